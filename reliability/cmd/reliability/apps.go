package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// buildApp compiles cmd/app into dir and returns the binary's path.
func buildApp(dir string) (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the reliability module")
	}
	module := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(dir, "app")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./cmd/app")
	build.Dir = module
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the app: %w\n%s", err, out)
	}
	return bin, nil
}

func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); isFile(p) {
		return p
	}
	return "go"
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// app is one running app process.
type app struct {
	name  string
	base  string // http://127.0.0.1:port
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when the process has exited and its stderr is read

	mu       sync.Mutex
	events   map[string]int // security events by kind, from the log
	errors   int            // error lines in the log
	errorMsg map[string]int // error lines by message and error text
	lastLogs []string       // the last lines of the log, for diagnostics
	exitErr  error
}

// appConfig are an app's flags.
type appConfig struct {
	name      string
	uri       string
	db        string
	coll      string
	tokenTTL  time.Duration
	timeout   time.Duration
	clockSkew time.Duration
	logFile   string // if set, a copy of the app's log
}

func startApp(bin string, c appConfig) (*app, error) {
	args := []string{"-uri", c.uri, "-db", c.db, "-coll", c.coll, "-name", c.name}
	if c.tokenTTL > 0 {
		args = append(args, "-token-ttl", c.tokenTTL.String())
	}
	if c.timeout > 0 {
		args = append(args, "-timeout", c.timeout.String())
	}
	if c.clockSkew != 0 {
		args = append(args, "-clock-skew", c.clockSkew.String())
	}
	a := &app{name: c.name, cmd: exec.Command(bin, args...), done: make(chan struct{}), events: map[string]int{},
		errorMsg: map[string]int{}}
	var logCopy *os.File // created before the process starts: no failure may leave it running
	var err error
	if c.logFile != "" {
		if logCopy, err = os.Create(c.logFile); err != nil {
			return nil, err
		}
	}
	if a.stdin, err = a.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := a.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	logsRead := make(chan struct{})
	go func() {
		defer close(logsRead)
		if logCopy != nil {
			defer logCopy.Close()
			a.readLog(io.TeeReader(stderr, logCopy))
			return
		}
		a.readLog(stderr)
	}()
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, r)
	}()
	go func() {
		<-logsRead
		err := a.cmd.Wait()
		a.mu.Lock()
		a.exitErr = err
		a.mu.Unlock()
		close(a.done)
	}()
	select {
	case a.base = <-lines:
	case <-time.After(time.Minute):
	}
	if !strings.HasPrefix(a.base, "http://") {
		a.stop()
		return nil, fmt.Errorf("app %s did not start (%q); its log:\n%s", c.name, a.base, strings.Join(a.logTail(), "\n"))
	}
	return a, nil
}

// readLog counts security events and errors in the app's JSON log lines.
func (a *app) readLog(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Kind  string `json:"kind"`
			Err   string `json:"err"`
			Path  string `json:"path"`
		}
		_ = json.Unmarshal([]byte(line), &rec)
		a.mu.Lock()
		if rec.Msg == "security event" {
			a.events[rec.Kind]++
		}
		if rec.Level == "ERROR" {
			a.errors++
			key := fmt.Sprintf("%s (%s): %s", rec.Msg, rec.Path, normalizeError(rec.Err))
			if len(key) > 300 {
				key = key[:300] + "…"
			}
			if _, known := a.errorMsg[key]; known || len(a.errorMsg) < 20 {
				a.errorMsg[key]++
			}
		}
		a.lastLogs = append(a.lastLogs, line)
		if len(a.lastLogs) > 40 {
			a.lastLogs = a.lastLogs[len(a.lastLogs)-40:]
		}
		a.mu.Unlock()
	}
}

func (a *app) logTail() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.lastLogs...)
}

var (
	quotedID   = regexp.MustCompile(`_id: "[^"]*"`)
	connection = regexp.MustCompile(`connection\([^)]*\)`)
	tcpPair    = regexp.MustCompile(`tcp [0-9.:]+->[0-9.:]+`)
	address    = regexp.MustCompile(`[0-9]+(\.[0-9]+){3}:[0-9]+`)
	number     = regexp.MustCompile(`\b[0-9]+(\.[0-9]+)?(ms|s)?\b`)
)

// normalizeError removes what differs between occurrences of one error (ids, ports), so that they group.
func normalizeError(s string) string {
	s = quotedID.ReplaceAllString(s, `_id: …`)
	s = connection.ReplaceAllString(s, "connection(…)")
	s = tcpPair.ReplaceAllString(s, "tcp …")
	s = address.ReplaceAllString(s, "…")
	return number.ReplaceAllString(s, "N")
}

// stop closes the app's stdin (it shuts down gracefully) and waits for it, killing it after 20 s.
func (a *app) stop() {
	_ = a.stdin.Close()
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.done
	}
}

// goroutines asks the app for its goroutine count.
func (a *app) goroutines(hc *http.Client) (int, error) {
	resp, err := hc.Get(a.base + "/debug/goroutines")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// clockSeam asks the app whether its skewed clock is in force (the library has Options.Clock).
func (a *app) clockSeam(hc *http.Client) (bool, error) {
	resp, err := hc.Get(a.base + "/debug/info")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var info struct {
		Clock bool `json:"clock"`
	}
	err = json.NewDecoder(resp.Body).Decode(&info)
	return info.Clock, err
}
