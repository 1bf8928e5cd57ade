/* Exec, Attach and PortForward: the RPCs check the request and hand out a
 * URL of the streaming server; the backend the server calls when the
 * client comes opens the exec, the attach or the connection in the pod. */
#include "cri/cri.h"
#include "cri/handlers.h"
#include "runtime/namespaces.h"
#include "util/cleanup.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include "runtime/v1/api.pb-c.h"

#include <string.h>
#include <unistd.h>

static int check_running(cri_state *st, const char *id, ocid_error *err)
{
        container *c = NULL;
        if (container_get(st->containers, id, &c, err) < 0)
                return -1;
        int r = 0;
        if (c->state != CONTAINER_RUNNING)
                r = ocid_error_set(err, OCID_ERR_PRECONDITION, "container %s is not running", c->id);
        container_free(c);
        return r;
}

static int check_streams(bool in, bool out, bool errs, bool tty, ocid_error *err)
{
        if (!in && !out && !errs)
                return ocid_error_set(err, OCID_ERR_INVALID, "one of stdin, stdout and stderr must be set");
        if (tty && errs)
                return ocid_error_set(err, OCID_ERR_INVALID,
                                      "tty and stderr cannot both be set: a terminal has one output stream");
        return 0;
}

static int hand_out_url(cri_state *st, stream_request *req, char **ret_url, ocid_error *err)
{
        if (!st->streams) {
                stream_request_free(req);
                return ocid_error_set(err, OCID_ERR_UNAVAILABLE, "the streaming server is not running");
        }
        return stream_server_url(st->streams, req, ret_url, err);
}

CRI_HANDLER(cri_exec)
{
        const Runtime__V1__ExecRequest *in = (const Runtime__V1__ExecRequest *)req;
        cri_state *st = rpc_call_context(call);
        if (in->n_cmd == 0 || !in->cmd[0][0])
                return ocid_error_set(err, OCID_ERR_INVALID, "no command to execute");
        if (check_streams(in->stdin, in->stdout, in->stderr, in->tty, err) < 0 ||
            check_running(st, in->container_id, err) < 0)
                return -1;
        stream_request *sr = xcalloc(1, sizeof(*sr));
        *sr = (stream_request){ .kind = STREAM_EXEC, .target = xstrdup(in->container_id), .tty = in->tty,
                                .in = in->stdin, .out = in->stdout, .err = in->stderr };
        for (size_t i = 0; i < in->n_cmd; i++)
                sr->cmd = strv_push(sr->cmd, in->cmd[i]);
        char *url;
        if (hand_out_url(st, sr, &url, err) < 0)
                return -1;
        Runtime__V1__ExecResponse *r = XNEW_MSG(Runtime__V1__ExecResponse, runtime__v1__exec_response__init);
        r->url = url;
        *resp = &r->base;
        return 0;
}

CRI_HANDLER(cri_attach)
{
        const Runtime__V1__AttachRequest *in = (const Runtime__V1__AttachRequest *)req;
        cri_state *st = rpc_call_context(call);
        if (check_streams(in->stdin, in->stdout, in->stderr, in->tty, err) < 0 ||
            check_running(st, in->container_id, err) < 0)
                return -1;
        stream_request *sr = xcalloc(1, sizeof(*sr));
        *sr = (stream_request){ .kind = STREAM_ATTACH, .target = xstrdup(in->container_id), .tty = in->tty,
                                .in = in->stdin, .out = in->stdout, .err = in->stderr };
        char *url;
        if (hand_out_url(st, sr, &url, err) < 0)
                return -1;
        Runtime__V1__AttachResponse *r = XNEW_MSG(Runtime__V1__AttachResponse, runtime__v1__attach_response__init);
        r->url = url;
        *resp = &r->base;
        return 0;
}

CRI_HANDLER(cri_port_forward)
{
        const Runtime__V1__PortForwardRequest *in = (const Runtime__V1__PortForwardRequest *)req;
        cri_state *st = rpc_call_context(call);
        sandbox *sb = NULL;
        if (sandbox_get(st->sandboxes, in->pod_sandbox_id, &sb, err) < 0)
                return -1;
        bool ready = sb->state == SANDBOX_READY;
        stream_request *sr = xcalloc(1, sizeof(*sr));
        *sr = (stream_request){ .kind = STREAM_PORTFORWARD, .target = xstrdup(sb->id) };
        sandbox_free(sb);
        if (!ready) {
                stream_request_free(sr);
                return ocid_error_set(err, OCID_ERR_PRECONDITION, "pod sandbox %s is not ready", in->pod_sandbox_id);
        }
        sr->ports = xcalloc(in->n_port ? in->n_port : 1, sizeof(*sr->ports));
        for (size_t i = 0; i < in->n_port; i++) {
                if (in->port[i] < 1 || in->port[i] > 65535) {
                        stream_request_free(sr);
                        return ocid_error_set(err, OCID_ERR_INVALID, "port %d is not a TCP port", in->port[i]);
                }
                sr->ports[sr->n_ports++] = (uint16_t)in->port[i];
        }
        char *url;
        if (hand_out_url(st, sr, &url, err) < 0)
                return -1;
        Runtime__V1__PortForwardResponse *r =
                XNEW_MSG(Runtime__V1__PortForwardResponse, runtime__v1__port_forward_response__init);
        r->url = url;
        *resp = &r->base;
        return 0;
}

/* ---- the streaming server's backend ------------------------------------------------------- */

static void exec_resize(void *h, uint16_t w, uint16_t hgt)
{
        container_exec_resize(h, w, hgt);
}

static int exec_wait(void *h)
{
        return container_exec_wait(h);
}

static void exec_kill(void *h)
{
        container_exec_kill(h);
}

static void exec_release(void *h)
{
        container_exec_free(h);
}

static const stream_process_ops exec_ops = {
        .resize = exec_resize, .wait = exec_wait, .kill = exec_kill, .release = exec_release,
};

static void attach_resize(void *h, uint16_t w, uint16_t hgt)
{
        container_attach_resize(h, w, hgt);
}

static void attach_release(void *h)
{
        container_attach *a = h;
        free(a->ctl_path);
        free(a);
}

static const stream_process_ops attach_ops = { .resize = attach_resize, .release = attach_release };

static int backend_open(void *context, const stream_request *req, stream_process *ret, ocid_error *err)
{
        cri_state *st = context;
        if (req->kind == STREAM_ATTACH) {
                container_attach *a = xcalloc(1, sizeof(*a));
                if (container_attach_open(st->containers, req->target, a, err) < 0) {
                        free(a);
                        return -1;
                }
                ret->attach_fd = a->fd;
                a->fd = -1;
                ret->handle = a;
                ret->ops = &attach_ops;
                return 0;
        }
        container_exec_request xr = { .id = req->target, .args = req->cmd, .tty = req->tty,
                                      .in = req->in, .out = req->out, .err = req->err,
                                      .width = req->width, .height = req->height };
        container_exec *x;
        if (container_exec_open(st->containers, &xr, &x, err) < 0)
                return -1;
        ret->in_fd = TAKE_FD(x->stdin_fd);
        ret->out_fd = TAKE_FD(x->stdout_fd);
        ret->err_fd = TAKE_FD(x->stderr_fd);
        ret->tty_fd = TAKE_FD(x->tty_fd);
        ret->exit_fd = x->pidfd;
        ret->handle = x;
        ret->ops = &exec_ops;
        return 0;
}

static int backend_dial(void *context, const char *sandbox_id, uint16_t port, int *ret_fd, ocid_error *err)
{
        cri_state *st = context;
        sandbox *sb = NULL;
        if (sandbox_get(st->sandboxes, sandbox_id, &sb, err) < 0)
                return -1;
        _cleanup_free_ char *netns = sb->host_network ? NULL : ns_path(sb->dir, NS_NET);
        sandbox_free(sb);
        return ns_dial_localhost(netns, port, ret_fd, err);
}

stream_backend cri_stream_backend(cri_state *st)
{
        return (stream_backend){ .context = st, .open = backend_open, .dial = backend_dial };
}
