package mongosession_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestModuleGraphHasNoTestDependencies: a module that imports only the library must not see the embedded
// database (FerretDB), the benchmark's contenders or the routers of adapters/ in its module graph.
func TestModuleGraphHasNoTestDependencies(t *testing.T) {
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module scratch\n\ngo 1.25.0\n\nrequire github.com/mongosession/mongosession v0.0.0\n\n"+
		"replace github.com/mongosession/mongosession => "+root+"\n")
	write("main.go", "package main\n\nimport _ \"github.com/mongosession/mongosession\"\n\nfunc main() {}\n")
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(sum))
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	graph := run("list", "-m", "all")
	if !strings.Contains(graph, "go.mongodb.org/mongo-driver/v2") {
		t.Fatalf("the driver is missing, the check is broken:\n%s", graph)
	}
	for _, bad := range []string{"FerretDB", "alexedwards", "devdb", "sqlite", "pgx", "gin-gonic", "labstack", "go-chi", "gorilla", "prometheus"} {
		if strings.Contains(graph, bad) {
			t.Errorf("a user of the library sees %q in its module graph:\n%s", bad, graph)
		}
	}
}
