package ginsession_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/adapters/gin"
	"github.com/mongosession/mongosession/internal/routertest"
)

func init() { gin.SetMode(gin.TestMode) }

func count(c *gin.Context) {
	n, err := routertest.Count(c.Request)
	if err != nil {
		c.String(http.StatusInternalServerError, err.Error())
		return
	}
	c.String(http.StatusOK, "%d", n)
}

func TestMiddleware(t *testing.T) {
	routertest.Run(t, func(mgr *mongosession.Manager) http.Handler {
		r := gin.New()
		r.Use(gin.Recovery(), ginsession.Middleware(mgr))
		r.GET(routertest.CounterPath, count)
		return r
	})
}

// A handler that sets a status and writes nothing: gin sends it after the handlers, with the cookie.
func TestStatusWithoutBody(t *testing.T) {
	mgr, coll := routertest.NewManager(t)
	r := gin.New()
	r.Use(ginsession.Middleware(mgr))
	r.POST("/note", func(c *gin.Context) {
		if err := mongosession.FromContext(c.Request.Context()).Put("note", "x"); err != nil {
			c.String(http.StatusInternalServerError, err.Error())
			return
		}
		c.Status(http.StatusNoContent)
	})
	resp := serve(t, r, http.MethodPost, "/note")
	if resp.Code != http.StatusNoContent || len(resp.Result().Cookies()) != 1 {
		t.Fatalf("got %d with cookies %q, want 204 with the session cookie", resp.Code, resp.Result().Header.Values("Set-Cookie"))
	}
	routertest.WantDocuments(t, coll, 1)
}

// A panic recovered by gin.Recovery commits nothing: no cookie, no document.
func TestRecoveredPanicCommitsNothing(t *testing.T) {
	mgr, coll := routertest.NewManager(t)
	r := gin.New()
	r.Use(gin.CustomRecoveryWithWriter(nil, func(c *gin.Context, _ any) { c.AbortWithStatus(http.StatusInternalServerError) }),
		ginsession.Middleware(mgr))
	r.GET("/panic", func(c *gin.Context) {
		_ = mongosession.FromContext(c.Request.Context()).Put("half", "done")
		panic("handler failed")
	})
	resp := serve(t, r, http.MethodGet, "/panic")
	if resp.Code != http.StatusInternalServerError || len(resp.Result().Cookies()) != 0 {
		t.Fatalf("got %d with cookies %q, want 500 without a cookie", resp.Code, resp.Result().Header.Values("Set-Cookie"))
	}
	routertest.WantDocuments(t, coll, 0)
}

// Why the adapter exists: Manager.Middleware wrapped around c.Next() alone commits after gin has sent the
// headers, so the client never gets a cookie. The middleware notices (gin's writer says it was written), logs
// one warning that names the fix, and stores no orphan session per request.
func TestWithoutAdapterTheCookieIsLost(t *testing.T) {
	var logs bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	mgr, coll := routertest.NewManager(t)
	r := gin.New()
	r.Use(func(c *gin.Context) {
		mgr.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
			c.Request = req
			c.Next()
		})).ServeHTTP(c.Writer, c.Request)
	})
	r.GET(routertest.CounterPath, count)
	for range 2 {
		if resp := serve(t, r, http.MethodGet, routertest.CounterPath); len(resp.Result().Cookies()) != 0 {
			t.Fatalf("a cookie arrived without the adapter: %q; is the adapter still needed?", resp.Result().Header.Values("Set-Cookie"))
		}
	}
	routertest.WantDocuments(t, coll, 0)
	if n := strings.Count(logs.String(), "written around the session middleware"); n != 1 {
		t.Fatalf("%d warnings, want one:\n%s", n, logs.String())
	}
}

func serve(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), method, path, nil))
	return rec
}
