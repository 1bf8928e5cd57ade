/* The infra process of a pod that shares one PID namespace: it holds the
 * namespace, reaps the orphans that land on it as PID 1, and exits on
 * SIGINT or SIGTERM. Built static: it runs from a root filesystem that
 * holds nothing else. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig)
{
        _exit(sig == SIGTERM || sig == SIGINT ? 0 : 128 + sig);
}

static void on_child(int sig)
{
        (void)sig;
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
}

int main(int argc, char **argv)
{
        if (argc > 1 && argv[1][0] == '-' && argv[1][1] == 'v') {
                puts("ocid pause");
                return 0;
        }
        if (getpid() != 1)
                fprintf(stderr, "pause: warning: not PID 1, orphans will not come here\n");
        struct sigaction stop = { .sa_handler = on_stop };
        struct sigaction child = { .sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART };
        sigaction(SIGINT, &stop, NULL);
        sigaction(SIGTERM, &stop, NULL);
        sigaction(SIGCHLD, &child, NULL);
        for (;;)
                pause();
}
