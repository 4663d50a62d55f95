// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * cfbind: a minimal stand-in for cachefilesd inside the test guest.
 *
 *   cfbind start [-d DIR] [-t TAG] [-n] [CMD...]
 *       Opens /dev/cachefiles, writes "dir DIR", "tag TAG", the default
 *       thresholds (brun 10%, bcull 7%, bstop 3%, frun 10%, fcull 7%,
 *       fstop 3%; -n leaves them out), each extra CMD (one command per
 *       argument, e.g. "bcull 50%"), then "bind". On success it forks a
 *       daemon that keeps the fd open (closing it unbinds the cache), writes
 *       its pid to /run/cachefilesd.pid and serves commands from the FIFO
 *       /run/cachefiles.cmd, answering on the FIFO /run/cachefiles.out.
 *       Unlike cachefilesd it never culls by itself: the tests drive culling.
 *
 *   cfbind ctl CMD...      (also: cfctl CMD...)
 *       Sends each CMD (one a line) and prints one answer line per command.
 *       Exit 0 if every answer starts with "ok", 1 otherwise, 2 on IPC error.
 *
 *   cfbind stop
 *       Stops the daemon (the cache is withdrawn) and waits for it to exit.
 *
 * Commands: anything is written to /dev/cachefiles as is (one write per
 * command, e.g. "cull NAME", "inuse NAME", "nocull"); answer "ok" or
 * "error ERRNO NAME message". Local commands:
 *   cd DIR          chdir (cull/inuse names are relative to the daemon's cwd)
 *   cull PATH/NAME  with a '/' in it: chdir to PATH, then "cull NAME"
 *   inuse PATH/NAME likewise
 *   unpin PATH/NAME likewise
 *   pins            write "pins", then read the listing up to its empty
 *                   read: "ok LINE;LINE;..." (newlines become ';')
 *   state           read /dev/cachefiles: "ok cull=0 frun=... bstop=..."
 *   ping            "ok PID"
 *   exit            "ok", then close the fd (unbind) and exit
 * Plain shell works too: echo "state" >/run/cachefiles.cmd;
 * cat /run/cachefiles.out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEV "/dev/cachefiles"
#define CMD_FIFO "/run/cachefiles.cmd"
#define OUT_FIFO "/run/cachefiles.out"
#define PID_FILE "/run/cachefilesd.pid"
#define BUF_MAX 65536

static const char *const default_thresholds[] = {
	"brun 10%", "bcull 7%", "bstop 3%",
	"frun 10%", "fcull 7%", "fstop 3%",
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("cfbind: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int dev_cmd(int fd, const char *cmd)
{
	ssize_t n = write(fd, cmd, strlen(cmd));

	if (n < 0)
		return -errno;
	return 0;
}

/* Append "ok ..." or "error ..." for result r (0 or -errno) to out. */
static void answer(char *out, size_t *len, int r, const char *extra)
{
	int n;

	if (r == 0)
		n = snprintf(out + *len, BUF_MAX - *len, "ok%s%s\n",
			     extra ? " " : "", extra ? extra : "");
	else
		n = snprintf(out + *len, BUF_MAX - *len, "error %d %s %s\n",
			     -r, strerrorname_np(-r) ? strerrorname_np(-r) : "?",
			     strerror(-r));
	if (n > 0 && (size_t)n < BUF_MAX - *len)
		*len += n;
}

/* cull/inuse with a path: chdir to the directory, then send the base name. */
static int path_cmd(int fd, const char *verb, const char *arg)
{
	char dir[4096], cmd[4200];
	const char *slash = strrchr(arg, '/');

	if (!slash)
		goto plain;
	if ((size_t)(slash - arg) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, arg, slash - arg);
	dir[slash - arg] = 0;
	if (chdir(dir[0] ? dir : "/") < 0)
		return -errno;
	arg = slash + 1;
plain:
	snprintf(cmd, sizeof(cmd), "%s %s", verb, arg);
	return dev_cmd(fd, cmd);
}

/* "pins": the listing comes from the reads that follow, up to one of 0. */
static int pins_cmd(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int r;

	r = dev_cmd(fd, "pins");
	if (r < 0)
		return r;
	while ((n = read(fd, buf + len, size - 1 - len)) > 0) {
		len += n;
		if (len >= size - 1)
			break;
	}
	if (n < 0)
		return -errno;
	while (len > 0 && buf[len - 1] == '\n')
		len--;
	buf[len] = 0;
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ';';
	return 0;
}

static int handle(int fd, char *line, char *out, size_t *len)
{
	char extra[512];
	ssize_t n;

	if (!strcmp(line, "ping")) {
		snprintf(extra, sizeof(extra), "%d", (int)getpid());
		answer(out, len, 0, extra);
	} else if (!strcmp(line, "exit")) {
		answer(out, len, 0, NULL);
		return 1;
	} else if (!strncmp(line, "cd ", 3)) {
		answer(out, len, chdir(line + 3) < 0 ? -errno : 0, NULL);
	} else if (!strcmp(line, "state")) {
		n = read(fd, extra, sizeof(extra) - 1);
		if (n < 0) {
			answer(out, len, -errno, NULL);
		} else {
			while (n > 0 && (extra[n - 1] == '\n' || extra[n - 1] == 0))
				n--;
			extra[n] = 0;
			answer(out, len, 0, extra);
		}
	} else if (!strncmp(line, "cull ", 5) && strchr(line + 5, '/')) {
		answer(out, len, path_cmd(fd, "cull", line + 5), NULL);
	} else if (!strncmp(line, "inuse ", 6) && strchr(line + 6, '/')) {
		answer(out, len, path_cmd(fd, "inuse", line + 6), NULL);
	} else if (!strncmp(line, "unpin ", 6) && strchr(line + 6, '/')) {
		answer(out, len, path_cmd(fd, "unpin", line + 6), NULL);
	} else if (!strcmp(line, "pins")) {
		static char list[BUF_MAX / 2];
		int r = pins_cmd(fd, list, sizeof(list));

		answer(out, len, r, r ? NULL : list);
	} else {
		answer(out, len, dev_cmd(fd, line), NULL);
	}
	return 0;
}

/* Open the answer FIFO for writing, waiting up to 30 s for the reader. */
static int open_out(void)
{
	int i, o;

	for (i = 0; i < 3000; i++) {
		o = open(OUT_FIFO, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (o >= 0) {
			fcntl(o, F_SETFL, 0);
			return o;
		}
		if (errno != ENXIO)
			return -1;
		sleep_ms(10);
	}
	return -1;
}

static void serve(int fd)
{
	static char in[BUF_MAX], out[BUF_MAX];

	for (;;) {
		size_t ilen = 0, olen = 0;
		ssize_t n;
		char *line, *next;
		int quit = 0, c, o;

		c = open(CMD_FIFO, O_RDONLY | O_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			_exit(3);
		}
		while (ilen < sizeof(in) - 1 &&
		       (n = read(c, in + ilen, sizeof(in) - 1 - ilen)) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			ilen += n;
		}
		close(c);
		in[ilen] = 0;
		for (line = in; line && *line && !quit; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = 0;
			if (!*line)
				continue;
			quit = handle(fd, line, out, &olen);
		}
		o = open_out();
		if (o >= 0) {
			if (write(o, out, olen) < 0) {
				/* the client went away; nothing to tell */
			}
			close(o);
		}
		if (quit) {
			close(fd);
			unlink(PID_FILE);
			_exit(0);
		}
	}
}

static int cmd_start(int argc, char **argv)
{
	const char *dir = "/mnt/cache", *tag = "cachectl";
	char buf[4200];
	int fd, opt, nodefaults = 0, r;
	size_t i;
	pid_t pid;
	FILE *f;

	while ((opt = getopt(argc, argv, "+d:t:n")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 't': tag = optarg; break;
		case 'n': nodefaults = 1; break;
		default: die("usage: cfbind start [-d DIR] [-t TAG] [-n] [CMD...]");
		}
	}
	fd = open(DEV, O_RDWR);
	if (fd < 0)
		die("open %s: %m", DEV);
	snprintf(buf, sizeof(buf), "dir %s", dir);
	if ((r = dev_cmd(fd, buf)) < 0)
		die("'%s': %s", buf, strerror(-r));
	snprintf(buf, sizeof(buf), "tag %s", tag);
	if ((r = dev_cmd(fd, buf)) < 0)
		die("'%s': %s", buf, strerror(-r));
	for (i = 0; !nodefaults && i < sizeof(default_thresholds) / sizeof(*default_thresholds); i++)
		if ((r = dev_cmd(fd, default_thresholds[i])) < 0)
			die("'%s': %s", default_thresholds[i], strerror(-r));
	for (; optind < argc; optind++)
		if ((r = dev_cmd(fd, argv[optind])) < 0)
			die("'%s': %s", argv[optind], strerror(-r));
	if ((r = dev_cmd(fd, "bind")) < 0)
		die("bind: %s", strerror(-r));

	unlink(CMD_FIFO);
	unlink(OUT_FIFO);
	if (mkfifo(CMD_FIFO, 0600) < 0 || mkfifo(OUT_FIFO, 0600) < 0)
		die("mkfifo: %m");
	signal(SIGPIPE, SIG_IGN);
	pid = fork();
	if (pid < 0)
		die("fork: %m");
	if (pid == 0) {
		setsid();
		if (chdir(dir) < 0)
			_exit(3);
		r = open("/dev/null", O_RDWR);
		if (r >= 0) {
			dup2(r, 0);
			dup2(r, 1);
			dup2(r, 2);
			if (r > 2)
				close(r);
		}
		serve(fd);
	}
	f = fopen(PID_FILE, "w");
	if (!f)
		die("%s: %m", PID_FILE);
	fprintf(f, "%d\n", (int)pid);
	fclose(f);
	return 0;
}

/* Open the command FIFO, waiting up to 5 s for the daemon to listen. */
static int open_cmd(void)
{
	int i, c;

	for (i = 0; i < 500; i++) {
		c = open(CMD_FIFO, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (c >= 0) {
			fcntl(c, F_SETFL, 0);
			return c;
		}
		if (errno != ENXIO)
			return -1;
		sleep_ms(10);
	}
	errno = ETIMEDOUT;
	return -1;
}

static int cmd_ctl(int argc, char **argv)
{
	static char buf[BUF_MAX];
	struct pollfd pfd;
	size_t len = 0;
	ssize_t n;
	int c, i, bad = 0, lines = 0, waited = 0;
	char *line, *next;

	if (argc < 2)
		die("usage: cfctl CMD...");
	for (i = 1; i < argc; i++) {
		n = snprintf(buf + len, sizeof(buf) - len, "%s\n", argv[i]);
		if (n < 0 || (size_t)n >= sizeof(buf) - len)
			die("commands too long");
		len += n;
	}
	c = open_cmd();
	if (c < 0) {
		fprintf(stderr, "cfctl: %s: %m (is cfbind running?)\n", CMD_FIFO);
		return 2;
	}
	if (write(c, buf, len) != (ssize_t)len) {
		fprintf(stderr, "cfctl: write: %m\n");
		return 2;
	}
	close(c);
	/* Non-blocking open plus poll, so a dead daemon cannot hang us. */
	c = open(OUT_FIFO, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (c < 0) {
		fprintf(stderr, "cfctl: %s: %m\n", OUT_FIFO);
		return 2;
	}
	len = 0;
	pfd.fd = c;
	pfd.events = POLLIN;
	while (len < sizeof(buf) - 1) {
		i = poll(&pfd, 1, 1000);
		if (i == 0) {
			if (++waited >= 60) {
				fprintf(stderr, "cfctl: no answer in 60 s\n");
				return 2;
			}
			continue;
		}
		if (i < 0 && errno == EINTR)
			continue;
		n = read(c, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	close(c);
	buf[len] = 0;
	fputs(buf, stdout);
	for (line = buf; *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		else
			next = line + strlen(line);
		lines++;
		if (strncmp(line, "ok", 2))
			bad = 1;
	}
	if (lines != argc - 1)
		return 2;
	return bad;
}

/* True while pid exists and is not a zombie. */
static int alive(int pid)
{
	char path[64], buf[256], *p;
	FILE *f;
	int r = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return kill(pid, 0) == 0;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		r = !(p && p[1] == ' ' && p[2] == 'Z');
	}
	fclose(f);
	return r;
}

static int cmd_stop(void)
{
	FILE *f = fopen(PID_FILE, "r");
	int pid = 0, i;

	if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0) {
		fprintf(stderr, "cfbind: no daemon (%s)\n", PID_FILE);
		return 1;
	}
	fclose(f);
	if (kill(pid, SIGTERM) < 0)
		return errno == ESRCH ? 0 : 1;
	for (i = 0; i < 1000 && alive(pid); i++)
		sleep_ms(10);
	unlink(PID_FILE);
	return alive(pid);
}

int main(int argc, char **argv)
{
	const char *me = strrchr(argv[0], '/');

	me = me ? me + 1 : argv[0];
	if (!strcmp(me, "cfctl"))
		return cmd_ctl(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "start"))
		return cmd_start(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "ctl"))
		return cmd_ctl(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "stop"))
		return cmd_stop();
	fprintf(stderr, "usage: cfbind start [-d DIR] [-t TAG] [-n] [CMD...] | ctl CMD... | stop\n");
	return 2;
}
