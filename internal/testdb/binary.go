package testdb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// staleAfter is how long a cached binary built from other sources is kept (another branch may still use it).
const staleAfter = 7 * 24 * time.Hour

// devdbBinary returns the path of a devdb binary for the module in dir: $MONGOSESSION_DEVDB_BIN, else the
// cached build of the current sources, built now if missing. The cache key covers the non-test Go sources,
// go.mod and go.sum of the module, the Go version and the target, so a change to devdb rebuilds it and an
// unchanged devdb costs no build (go build -o relinks every time, several seconds for FerretDB).
func devdbBinary(dir string) (string, error) {
	if p := os.Getenv(EnvDevdbBin); p != "" {
		if !isFile(p) {
			return "", fmt.Errorf("testdb: $%s is %q, which is not a file", EnvDevdbBin, p)
		}
		return p, nil
	}
	key, err := sourceKey(dir)
	if err != nil {
		return "", err
	}
	cache := cacheDir()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("testdb: %w", err)
	}
	exe := ""
	if runtime.GOOS == "windows" {
		exe = ".exe"
	}
	bin := filepath.Join(cache, "devdb-"+key+exe)
	if isFile(bin) {
		return bin, nil
	}

	// The test binaries of one `go test ./...` start together: one builds, the others wait for it rather
	// than compile FerretDB in parallel on a cold build cache.
	unlock, err := lockFile(filepath.Join(cache, "build.lock"))
	if err != nil {
		return "", fmt.Errorf("testdb: %w", err)
	}
	defer unlock()
	if isFile(bin) {
		return bin, nil
	}
	fmt.Fprintf(os.Stderr, "testdb: building the embedded database %s/cmd/devdb into %s (first build: about a minute)...\n", dir, cache)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	tmp := fmt.Sprintf("%s.%d.tmp", bin, os.Getpid())
	build := exec.CommandContext(ctx, goTool(), "build", "-o", tmp, "./cmd/devdb")
	build.Dir = dir
	// devdb is its own module; a go.work elsewhere must not change how it builds.
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %v", buildTimeout)
		}
		return "", fmt.Errorf("testdb: building devdb in %s: %w\n%s", dir, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("testdb: %w", err)
	}
	pruneCache(cache, bin)
	return bin, nil
}

// cacheDir is where built binaries are kept: the user's cache directory, else the temporary one.
func cacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "mongosession-testdb")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("mongosession-testdb-%d", os.Getuid()))
}

// sourceKey hashes what the devdb binary is built from.
func sourceKey(dir string) (string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != dir && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
				isFile(filepath.Join(p, "go.mod"))) {
				return filepath.SkipDir // not part of the binary (or another module)
			}
			return nil
		}
		if name == "go.mod" || name == "go.sum" || (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("testdb: hashing the devdb sources: %w", err)
	}
	sort.Strings(files)
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s cgo=%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, os.Getenv("CGO_ENABLED"))
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return "", fmt.Errorf("testdb: %w", err)
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s\n", filepath.ToSlash(rel))
		_, err = io.Copy(h, f)
		_ = f.Close()
		if err != nil {
			return "", fmt.Errorf("testdb: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// pruneCache removes binaries of other sources not used for a while, so the cache does not grow without end.
func pruneCache(cache, keep string) {
	entries, err := os.ReadDir(cache)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(cache, e.Name())
		if p == keep || !strings.HasPrefix(e.Name(), "devdb-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAfter {
			_ = os.Remove(p)
		}
	}
}
