package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRunListensBeforeSayingSo: the demo prints the database URI, then "listening on URL" only once URL
// answers, and serves its favicon there.
func TestRunListensBeforeSayingSo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, stdout := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"-addr", "127.0.0.1:0", "-dir", t.TempDir()}, stdout)
		_ = stdout.CloseWithError(err)
		errc <- err
	}()

	lines := bufio.NewScanner(out)
	var url string
	var sawDatabase bool
	for url == "" && lines.Scan() {
		line := lines.Text()
		sawDatabase = sawDatabase || strings.HasPrefix(line, "database: mongodb://")
		if rest, ok := strings.CutPrefix(line, "listening on "); ok {
			url = rest
		}
	}
	if url == "" {
		t.Fatalf("no listening line: %v", lines.Err())
	}
	if !sawDatabase {
		t.Error("the database URI was not printed before the listening line")
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	res, err := http.Get(url + "/favicon.ico") // no retry: the listener must be bound already
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(body), "<svg") {
		t.Errorf("favicon: %s %q %.40q", res.Status, res.Header.Get("Content-Type"), body)
	}

	cancel()
	if err := <-errc; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestRedactURI(t *testing.T) {
	for in, want := range map[string]string{
		"mongodb://127.0.0.1:27017/":                     "mongodb://127.0.0.1:27017/",
		"mongodb://ada:s3cret@db1:27017,db2:27017/app?x": "mongodb://xxxxx@db1:27017,db2:27017/app?x",
		"mongodb+srv://ada:p@ss@cluster.example.net":     "mongodb+srv://xxxxx@cluster.example.net",
		"not a uri": "not a uri",
	} {
		if got := redactURI(in); got != want {
			t.Errorf("redactURI(%q) = %q, want %q", in, got, want)
		}
	}
}
