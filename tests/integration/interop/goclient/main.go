// ocid-interop-go: a grpc-go CRI client for ocid's interop tests.
//
// The kubelet and crictl are grpc-go programs; this one connects the same
// way so that the daemon sees what they send (notably the socket path as
// :authority). It is built offline from Debian's golang-google-grpc-dev and
// golang-goprotobuf-dev, with code generated from proto/runtime/v1/api.proto
// at build time (see build-go-client.sh).
//
// Usage: ocid-interop-go [-endpoint unix:///path] [-timeout 2s] [-dial crictl|scheme]
//
//	METHOD [REQUEST_JSON]
//
// METHOD is "Version" (RuntimeService), "ImageService/PullImage", or a full
// path "/runtime.v1.RuntimeService/Version". One JSON object is printed:
//
//	{"ok":true,"code":"OK","response":{...},"elapsedMs":N,"authority":"..."}
//	{"ok":false,"code":"UNIMPLEMENTED","message":"...","elapsedMs":N,...}
//
// and the exit status is 0 for OK, 1 for a gRPC error, 2 for a usage error.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/golang/protobuf/jsonpb"
	"github.com/golang/protobuf/proto"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	_ "ocidinterop/runtimev1" // registers the runtime.v1 message types
)

// The kubelet's limit (pkg/kubelet/cri/remote: maxMsgSize).
const maxMsgSize = 16 * 1024 * 1024

// tapConn records the first bytes the client writes, to read back the
// request headers it really sent.
type tapConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *tapConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.buf.Len() < 1<<20 {
		c.buf.Write(p)
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// authority decodes the client's HTTP/2 stream and returns the :authority
// of its first request.
func (c *tapConn) authority() string {
	c.mu.Lock()
	data := append([]byte(nil), c.buf.Bytes()...)
	c.mu.Unlock()
	if !bytes.HasPrefix(data, []byte(http2.ClientPreface)) {
		return ""
	}
	fr := http2.NewFramer(nil, bytes.NewReader(data[len(http2.ClientPreface):]))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return ""
		}
		if mh, ok := f.(*http2.MetaHeadersFrame); ok {
			return mh.PseudoValue("authority")
		}
	}
}

func methodPath(m string) string {
	if strings.HasPrefix(m, "/") {
		return m
	}
	service := "RuntimeService"
	if i := strings.LastIndex(m, "/"); i >= 0 {
		service, m = m[:i], m[i+1:]
	}
	return "/runtime.v1." + service + "/" + m
}

// newMessage makes an empty runtime.v1 message by name, e.g. "VersionRequest".
func newMessage(name string) (proto.Message, error) {
	t := proto.MessageType("runtime.v1." + name)
	if t == nil {
		return nil, fmt.Errorf("no message type runtime.v1.%s", name)
	}
	return reflect.New(t.Elem()).Interface().(proto.Message), nil
}

// grpcCodeName turns codes.Unimplemented into "UNIMPLEMENTED", the name
// used by the gRPC spec (and by Python's grpc.StatusCode).
func grpcCodeName(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

func main() {
	endpoint := flag.String("endpoint", os.Getenv("CONTAINER_RUNTIME_ENDPOINT"), "unix:///path/to/ocid.sock")
	timeout := flag.Duration("timeout", 2*time.Second, "deadline of the call")
	dialMode := flag.String("dial", "crictl",
		"crictl: like crictl and the kubelet (target = socket path, unix context dialer); "+
			"scheme: grpc.Dial(\"unix:///path\")")
	flag.Parse()
	if flag.NArg() < 1 || flag.NArg() > 2 || !strings.HasPrefix(*endpoint, "unix://") {
		fmt.Fprintln(os.Stderr, "usage: ocid-interop-go -endpoint unix:///path METHOD [REQUEST_JSON]")
		os.Exit(2)
	}
	path := methodPath(flag.Arg(0))
	name := path[strings.LastIndex(path, "/")+1:]
	req, err := newMessage(name + "Request")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	resp, err := newMessage(name + "Response")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if flag.NArg() == 2 {
		if err := jsonpb.UnmarshalString(flag.Arg(1), req); err != nil {
			fmt.Fprintln(os.Stderr, "request:", err)
			os.Exit(2)
		}
	}

	socketPath := strings.TrimPrefix(*endpoint, "unix://")
	var tap *tapConn
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "unix", strings.TrimPrefix(addr, "unix://"))
		if err != nil {
			return nil, err
		}
		tap = &tapConn{Conn: c}
		return tap, nil
	}
	// crictl and the kubelet (k8s.io/kubernetes/pkg/kubelet/util
	// GetAddressAndDialer) strip "unix://" and dial the bare path through
	// a context dialer, so grpc-go's passthrough resolver makes the path
	// the :authority.
	target := socketPath
	if *dialMode == "scheme" {
		target = *endpoint
	} else if *dialMode != "crictl" {
		fmt.Fprintln(os.Stderr, "-dial: crictl or scheme")
		os.Exit(2)
	}
	// Connect first, so that -timeout is the call's deadline alone.
	dialCtx, cancelDial := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelDial()
	conn, err := grpc.DialContext(dialCtx, target, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.FailOnNonTempDialError(true),
		grpc.WithContextDialer(dialer),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize),
			grpc.MaxCallSendMsgSize(maxMsgSize)))
	out := map[string]interface{}{}
	start := time.Now()
	if err == nil {
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		start = time.Now()
		err = conn.Invoke(ctx, path, req, resp)
	}
	out["elapsedMs"] = time.Since(start).Milliseconds()
	if tap != nil {
		out["authority"] = tap.authority()
	}
	code := 0
	if err != nil {
		st, _ := status.FromError(err)
		out["ok"] = false
		out["code"] = grpcCodeName(st.Code().String())
		out["message"] = st.Message()
		code = 1
	} else {
		m := jsonpb.Marshaler{}
		text, err := m.MarshalToString(resp)
		if err != nil {
			fmt.Fprintln(os.Stderr, "response:", err)
			os.Exit(2)
		}
		out["ok"] = true
		out["code"] = "OK"
		out["response"] = json.RawMessage(text)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.Encode(out)
	os.Exit(code)
}
