package echosession_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/adapters/echo"
	"github.com/mongosession/mongosession/internal/routertest"
)

func count(c echo.Context) error {
	n, err := routertest.Count(c.Request())
	if err != nil {
		return err
	}
	return c.String(http.StatusOK, strconv.FormatInt(n, 10))
}

func TestMiddleware(t *testing.T) {
	routertest.Run(t, func(mgr *mongosession.Manager) http.Handler {
		e := echo.New()
		e.Use(middleware.Recover(), echosession.Middleware(mgr))
		e.GET(routertest.CounterPath, count)
		return e
	})
}

// An error returned by the handler is answered by echo's error handler, with the cookie of the session the
// handler changed.
func TestReturnedError(t *testing.T) {
	mgr, coll := routertest.NewManager(t)
	e := echo.New()
	e.Use(echosession.Middleware(mgr))
	e.GET("/fail", func(c echo.Context) error {
		if err := mongosession.FromContext(c.Request().Context()).Put("tried", true); err != nil {
			return err
		}
		return echo.NewHTTPError(http.StatusTeapot, "no coffee")
	})
	resp := serve(t, e, "/fail")
	if resp.Code != http.StatusTeapot || len(resp.Result().Cookies()) != 1 {
		t.Fatalf("got %d with cookies %q, want 418 with the session cookie", resp.Code, resp.Result().Header.Values("Set-Cookie"))
	}
	routertest.WantDocuments(t, coll, 1)
}

// A panic that middleware.Recover turns into a 500 commits nothing: no cookie, no document. Through
// echo.WrapMiddleware, the same request commits a session.
func TestRecoveredPanic(t *testing.T) {
	for _, tc := range []struct {
		name      string
		adapter   func(*mongosession.Manager) echo.MiddlewareFunc
		documents int64
	}{
		{"adapter", echosession.Middleware, 0},
		{"WrapMiddleware", func(mgr *mongosession.Manager) echo.MiddlewareFunc { return echo.WrapMiddleware(mgr.Middleware) }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mgr, coll := routertest.NewManager(t)
			e := echo.New()
			e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true}), tc.adapter(mgr))
			e.GET("/panic", func(c echo.Context) error {
				_ = mongosession.FromContext(c.Request().Context()).Put("half", "done")
				panic(errors.New("handler failed"))
			})
			if resp := serve(t, e, "/panic"); resp.Code != http.StatusInternalServerError {
				t.Fatalf("got %d, want 500", resp.Code)
			}
			routertest.WantDocuments(t, coll, tc.documents)
		})
	}
}

// Why the adapter exists: Manager.Middleware wrapped around the handler alone commits after echo has sent
// the headers, so the client never gets a cookie and each request stores one more session.
func TestWithoutAdapterTheCookieIsLost(t *testing.T) {
	mgr, coll := routertest.NewManager(t)
	e := echo.New()
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			mgr.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				c.SetRequest(r)
				err = next(c)
			})).ServeHTTP(c.Response(), c.Request())
			return err
		}
	})
	e.GET(routertest.CounterPath, count)
	for range 2 {
		if resp := serve(t, e, routertest.CounterPath); len(resp.Result().Cookies()) != 0 {
			t.Fatalf("a cookie arrived without the adapter: %q; is the adapter still needed?", resp.Result().Header.Values("Set-Cookie"))
		}
	}
	routertest.WantDocuments(t, coll, 2)
}

func serve(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
	return rec
}
