package devdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// watchdogScript runs "$@" (postgres) and stops it with SIGINT as soon as its
// own stdin reaches EOF, i.e. when stop closes the pipe or this process dies
// (even by SIGKILL). Pdeathsig does not help here: the postmaster survives it.
const watchdogScript = `exec 3<&0
"$@" &
pid=$!
(read -r _ <&3; kill -INT "$pid" 2>/dev/null) &
watcher=$!
wait "$pid"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
`

// pgInstallHint is the fix for missing PostgreSQL binaries on Debian/Ubuntu.
const pgInstallHint = "run `apt-get install -y postgresql`"

// StartPostgres runs a private PostgreSQL server for the "postgresql" backend.
//
// The cluster lives in dir (created if missing; initdb runs only if dir holds
// no cluster yet): dir/data is PGDATA, dir/sock the Unix socket directory and
// dir/postgres.log the server log. The server listens on a free 127.0.0.1 port
// with trust authentication for the superuser "postgres", and a database
// "ferretdb" is created. It returns a URL like
// "postgres://postgres@127.0.0.1:PORT/ferretdb" and stop, which shuts the
// server down (fast mode) and waits for it. The server also shuts down if this
// process dies (a small /bin/sh watchdog notices EOF on its stdin pipe).
//
// The binaries (initdb, postgres, createdb) are looked up in the newest
// /usr/lib/postgresql/*/bin (Debian's package postgresql), then in PATH.
//
// PostgreSQL refuses to run as root. As root, initdb and postgres run as the
// system user "postgres" (created by the Debian package), dir is chowned to it,
// and if that user cannot reach dir (an ancestor directory without o+x, as with
// t.TempDir()), the cluster goes into a fresh temporary directory instead that
// stop removes.
func StartPostgres(ctx context.Context, dir string) (pgURL string, stop func() error, err error) {
	bin, err := findPostgresBin()
	if err != nil {
		return "", nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", nil, fmt.Errorf("devdb: %w", err)
	}
	// 0755 so that, as root, the "postgres" user can traverse it; PGDATA itself is 0700.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("devdb: %w", err)
	}

	var cred *syscall.Credential
	removeDir := false
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", nil, fmt.Errorf("devdb: PostgreSQL cannot run as root and there is no user \"postgres\" to run it as (%s): %w", pgInstallHint, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if !reachableBy(dir, uid) {
			if dir, err = os.MkdirTemp("", "devdb-postgres-"); err != nil {
				return "", nil, fmt.Errorf("devdb: %w", err)
			}
			removeDir = true
		}
	}
	cleanup := func() {
		if removeDir {
			_ = os.RemoveAll(dir)
		}
	}

	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("devdb: %w", err)
		}
	}
	if cred != nil {
		if err := chownTree(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("devdb: %w", err)
		}
	}

	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		// -N: no fsync of the new cluster; it is a development database.
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("devdb: initdb: %w\n%s", err, out)
		}
	}

	logFile, err := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("devdb: %w", err)
	}

	// A free port can be taken by someone else before postgres binds it; retry then.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			lastErr = err
			continue
		}
		cmd := exec.Command("/bin/sh", "-c", watchdogScript, "postgres-watchdog",
			filepath.Join(bin, "postgres"), "-D", data,
			"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port), "-k", sock)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		// Own process group, so a stuck server can be killed with its children.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			lastErr = err
			break
		}
		if err := cmd.Start(); err != nil {
			lastErr = err
			break
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()

		stopServer := func() error {
			// EOF on the watchdog's stdin makes it send SIGINT, PostgreSQL's
			// "fast" shutdown: abort clients, checkpoint, exit.
			_ = stdin.Close()
			var err error
			select {
			case err = <-exited:
			case <-time.After(30 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				err = <-exited
			}
			_ = logFile.Close()
			cleanup()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = nil // exited non-zero on shutdown; nothing to report
			}
			return err
		}

		if err := createDatabase(ctx, bin, port, exited); err != nil {
			lastErr = err
			// Keep logFile open for the next attempt.
			_ = stdin.Close()
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
			if ctx.Err() != nil {
				break
			}
			continue
		}

		u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/ferretdb"}
		return u.String(), stopServer, nil
	}
	_ = logFile.Close()
	tail := readTail(filepath.Join(dir, "postgres.log"), 2000)
	cleanup()
	return "", nil, fmt.Errorf("devdb: starting PostgreSQL: %w\npostgres.log:\n%s", lastErr, tail)
}

// createDatabase waits for the server to accept connections and creates the
// database "ferretdb" unless it exists.
func createDatabase(ctx context.Context, bin string, port int, exited <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "ferretdb")
		out, err := cmd.CombinedOutput()
		if err == nil || bytes.Contains(out, []byte("already exists")) {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("postgres exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("createdb: %v: %s", err, out)
		}
	}
}

// findPostgresBin returns the directory holding initdb, postgres and createdb.
func findPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first.
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("devdb: PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or PATH; %s", pgInstallHint)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// reachableBy reports whether a non-root user uid (not in the owners' groups)
// can traverse every ancestor of dir.
func reachableBy(dir string, uid int) bool {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		owner := ok && int(st.Uid) == uid
		if !(owner && fi.Mode()&0o100 != 0) && fi.Mode()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func chownTree(root string, uid, gid int) error {
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func readTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
