package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mongosession/mongosession/internal/testdb"
)

// docsShowingTheProgram are the documents, relative to the repository root, that must show main.go verbatim
// between the lines "<!-- quickstart:begin -->" and "<!-- quickstart:end -->" (in a ```go block).
var docsShowingTheProgram = []string{"README.md", "docs/quickstart.md"}

// TestDocsShowThisProgram fails when a document's copy of the program drifts from main.go.
func TestDocsShowThisProgram(t *testing.T) {
	program, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docsShowingTheProgram {
		text, err := os.ReadFile(filepath.Join("..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		shown, err := quickstartBlock(string(text))
		if err != nil {
			t.Errorf("%s: %v", doc, err)
			continue
		}
		if shown != string(program) {
			t.Errorf("%s shows another program than examples/quickstart/main.go: copy main.go between the markers.\n%s",
				doc, firstDifference(shown, string(program)))
		}
	}
}

// quickstartBlock returns the contents of the ```go block between the quickstart markers.
func quickstartBlock(doc string) (string, error) {
	const begin, end = "<!-- quickstart:begin -->\n```go\n", "```\n<!-- quickstart:end -->"
	_, rest, ok := strings.Cut(doc, begin)
	if !ok {
		return "", errorString("no line \"<!-- quickstart:begin -->\" followed by \"```go\"")
	}
	block, _, ok := strings.Cut(rest, end)
	if !ok {
		return "", errorString("no \"```\" line followed by \"<!-- quickstart:end -->\"")
	}
	return block, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

func firstDifference(shown, program string) string {
	a, b := strings.Split(shown, "\n"), strings.Split(program, "\n")
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("first difference at line %d:\n  document: %s\n  main.go:  %s", i+1, x, y)
		}
	}
	return ""
}

// TestProgram builds and runs the program against the development database, uses it as a browser would and
// stops it with SIGINT: it must shut down cleanly.
func TestProgram(t *testing.T) {
	uri, stopDB, err := testdb.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer stopDB()

	bin := filepath.Join(t.TempDir(), "quickstart")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0", "-insecure-cookie")
	cmd.Env = append(os.Environ(), "MONGODB_URI="+uri)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// One reader for the program's log: it hands over the listening address, keeps every line for a failure
	// report, and reaps the process once the log ends.
	listening := make(chan string, 1)
	exited := make(chan error, 1)
	var programLog strings.Builder
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			programLog.WriteString(s.Text() + "\n")
			if _, addr, ok := strings.Cut(s.Text(), "listening on "); ok {
				listening <- addr
			}
		}
		close(listening)
		exited <- cmd.Wait()
	}()
	var base string
	select {
	case base = <-listening:
	case <-ctx.Done():
	}
	if base == "" {
		err := <-exited
		t.Fatalf("the program did not start: %v\n%s", err, programLog.String())
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	page := func(method, path string, form url.Values) string {
		t.Helper()
		var resp *http.Response
		var err error
		if method == http.MethodPost {
			resp, err = browser.PostForm(base+path, form)
		} else {
			resp, err = browser.Get(base + path)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s %v", method, path, resp.StatusCode, body, err)
		}
		return string(body)
	}
	sessionID := func() string {
		u, _ := url.Parse(base)
		for _, c := range jar.Cookies(u) {
			id, _, _ := strings.Cut(c.Value, ".")
			return id
		}
		return ""
	}
	want := func(body, text string) {
		t.Helper()
		if !strings.Contains(body, text) {
			t.Fatalf("page without %q:\n%s", text, body)
		}
	}

	want(page(http.MethodGet, "/", nil), `Visits: 1. User: "".`)
	want(page(http.MethodGet, "/", nil), `Visits: 2. User: "".`)
	before := sessionID()
	want(page(http.MethodPost, "/login", url.Values{"user": {"ada"}}), `Visits: 3. User: "ada".`)
	if after := sessionID(); after == before || after == "" {
		t.Fatalf("login kept the session id %q (Renew must change it)", before)
	}
	want(page(http.MethodPost, "/logout", nil), `Visits: 1. User: "".`)

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("after SIGINT the program exited with %v, want a clean exit; its log:\n%s", err, programLog.String())
	}
}
