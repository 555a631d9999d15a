// Package echosession connects mongosession to echo v4 (github.com/labstack/echo/v4).
//
// Use it as echo middleware:
//
//	e := echo.New()
//	e.Use(middleware.Recover(), echosession.Middleware(mgr))
//	e.GET("/", func(c echo.Context) error {
//		s := mongosession.FromContext(c.Request().Context())
//		n, err := s.Incr("visits", 1)
//		if err != nil {
//			return err
//		}
//		return c.String(http.StatusOK, strconv.FormatInt(n, 10))
//	})
//
// Why an adapter: echo handlers write to c.Response(), echo's own writer, not to the http.ResponseWriter a
// net/http middleware hands down, and Manager.Middleware commits the session when the headers are about to
// leave through its writer. The adapter puts that writer under c.Response(), as echo.WrapMiddleware does, so
// the cookie goes out with the headers. Unlike echo.WrapMiddleware it then gives the middlewares before it
// their own c.Response() back: a panic that middleware.Recover turns into a 500 commits nothing of the
// panicking request, as with net/http (through echo.WrapMiddleware the 500 would commit it).
package echosession

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/mongosession/mongosession"
)

// Middleware gives every request a session (mongosession.FromContext(c.Request().Context())), committed
// once just before the response headers leave, or when the handler returns without writing. An error the
// handler returns is answered by echo's HTTPErrorHandler afterwards, with the session cookie.
func Middleware(mgr *mongosession.Manager) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			res := c.Response()
			// Once the session is committed (or on a panic), the middlewares before this one write directly again.
			defer c.SetResponse(res)
			mgr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c.SetRequest(r)
				c.SetResponse(echo.NewResponse(w, c.Echo()))
				err = next(c)
			})).ServeHTTP(res, c.Request())
			return err
		}
	}
}
