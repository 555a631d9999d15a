package mongosession

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/mongosession/mongosession/internal/testdb"
)

// TestURI is the MongoDB URI the tests use: $MONGOSESSION_TEST_URI, or the embedded development database
// started for this test binary. Exported to the external test package only (this is a _test.go file).
var TestURI string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		os.Exit(m.Run()) // a fuzzing worker runs only the fuzz target, which needs no database
	}
	uri, stop, err := testdb.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot start the test database:", err)
		os.Exit(1)
	}
	TestURI = uri
	code := m.Run()
	stop()
	os.Exit(code)
}
