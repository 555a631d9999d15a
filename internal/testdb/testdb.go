// Package testdb provides the MongoDB server for this module's tests.
//
// It never imports FerretDB or devdb: the development database is a separate
// module (../../devdb) that is built and run as a child process, so users of
// this module never see FerretDB in their module graph.
package testdb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// EnvURI names the environment variable that points the tests at an existing
// MongoDB (e.g. "mongodb://localhost:27017/"); if it is set, no devdb is started.
const EnvURI = "MONGOSESSION_TEST_URI"

// EnvDevdbBin names the environment variable that gives a devdb binary built
// beforehand (go build -o PATH ./cmd/devdb in the devdb module); if it is set,
// Start runs that binary and builds nothing.
const EnvDevdbBin = "MONGOSESSION_DEVDB_BIN"

const (
	// buildTimeout allows a cold build: compiling FerretDB and its pure-Go SQLite
	// takes about a minute on 2 cores; later builds come from the build cache.
	buildTimeout = 3 * time.Minute
	// startTimeout bounds the wait for the URI line once the binary is built.
	startTimeout = time.Minute
	// stopTimeout bounds the graceful shutdown before the child is killed.
	stopTimeout = 30 * time.Second
)

var (
	mu      sync.Mutex
	running *child // shared by all callers of Start in this test binary
	users   int
)

// Start returns the MongoDB URI for tests: $MONGOSESSION_TEST_URI if set
// (stop is then a no-op), otherwise it starts the devdb command
// (devdb/cmd/devdb) as a child process on a free loopback port with its data
// in a temporary directory, and returns its URI. The binary is
// $MONGOSESSION_DEVDB_BIN if set, else the one built for the current devdb
// sources and Go version in the user's cache directory, which Start builds
// when missing (once for all test binaries: they take turns under a file lock).
//
// The child is started once per test binary and shared: each successful Start
// must be paired with one stop call, and the last stop closes the child's
// stdin (it exits on EOF, and so also dies with this process), waits for it
// and removes the temporary directory. Progress is printed to stderr, as is
// the child's stderr if it fails.
func Start() (uri string, stop func(), err error) {
	if uri := os.Getenv(EnvURI); uri != "" {
		return uri, func() {}, nil
	}

	mu.Lock()
	defer mu.Unlock()
	if running == nil {
		c, err := startChild()
		if err != nil {
			return "", nil, err
		}
		running = c
	}
	users++
	c := running

	var once sync.Once
	stop = func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			users--
			if users == 0 && running == c {
				running = nil
				c.stop()
			}
		})
	}
	return c.uri, stop, nil
}

// child is a running devdb process.
type child struct {
	uri    string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *capBuffer
	tmp    string
	done   chan struct{} // closed when cmd.Wait returns
	err    error         // cmd.Wait's result, valid after done
}

func startChild() (_ *child, err error) {
	dir, err := devdbDir()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "mongosession-testdb-")
	if err != nil {
		return nil, fmt.Errorf("testdb: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()

	bin, err := devdbBinary(dir)
	if err != nil {
		return nil, err
	}

	c := &child{tmp: tmp, stderr: &capBuffer{max: 64 << 10}, done: make(chan struct{})}
	c.cmd = exec.Command(bin, "-addr", "127.0.0.1:0", "-dir", filepath.Join(tmp, "data"), "-exit-on-stdin-eof")
	c.cmd.Stderr = c.stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("testdb: %w", err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("testdb: %w", err)
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testdb: starting devdb: %w", err)
	}

	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- strings.TrimSpace(line)
		// Keep draining so the child never blocks on a full pipe; Wait needs EOF too.
		_, _ = io.Copy(io.Discard, r)
	}()

	var line string
	select {
	case line = <-lines:
	case <-time.After(startTimeout):
		_ = c.cmd.Process.Kill()
		line = "timed out"
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	if !strings.HasPrefix(line, "mongodb://") {
		_ = c.stdin.Close()
		<-c.done
		return nil, fmt.Errorf("testdb: devdb did not print its URI (got %q, exit: %v); its stderr:\n%s", line, c.err, c.stderr)
	}
	c.uri = line
	fmt.Fprintf(os.Stderr, "testdb: devdb serving %s\n", c.uri)
	return c, nil
}

// stop closes the child's stdin, which makes it shut down, and cleans up.
func (c *child) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(stopTimeout):
		_ = c.cmd.Process.Kill()
		<-c.done
		c.err = fmt.Errorf("killed after %v: %w", stopTimeout, c.err)
	}
	if c.err != nil {
		fmt.Fprintf(os.Stderr, "testdb: devdb exited: %v; its stderr:\n%s\n", c.err, c.stderr)
	}
	_ = os.RemoveAll(c.tmp)
}

// devdbDir finds the devdb module: next to this source file in the repository
// (../../devdb), else by walking up from the working directory.
func devdbDir() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Join(filepath.Dir(file), "..", "..", "devdb")
		if isFile(filepath.Join(d, "go.mod")) {
			return filepath.Clean(d), nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testdb: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if isFile(filepath.Join(d, "devdb", "go.mod")) {
			return filepath.Join(d, "devdb"), nil
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return "", errors.New("testdb: cannot find the devdb module (devdb/go.mod) from this source file or the working directory; set " + EnvURI + " to use an existing MongoDB")
}

// goTool returns the go command of the toolchain that built this test, else the one in PATH.
func goTool() string {
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", "go")
		if runtime.GOOS == "windows" {
			p += ".exe"
		}
		if isFile(p) {
			return p
		}
	}
	return "go"
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// capBuffer keeps the last max bytes written to it; safe for concurrent use.
type capBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *capBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
