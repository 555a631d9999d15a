package ginsession_test

import (
	"os"
	"testing"

	"github.com/mongosession/mongosession/internal/routertest"
)

func TestMain(m *testing.M) { os.Exit(routertest.Main(m)) }
