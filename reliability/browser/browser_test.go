package browser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestJarFollowsSetCookieInArrivalOrder(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/set":
			http.SetCookie(w, &http.Cookie{Name: "session", Value: r.URL.Query().Get("v")})
		case "/slow-clear":
			close(arrived)
			<-release
			http.SetCookie(w, &http.Cookie{Name: "session", MaxAge: -1})
		case "/echo":
			_, _ = w.Write([]byte(r.Header.Get("Cookie")))
		}
	}))
	defer srv.Close()
	b := New(1, srv.Client())
	ctx := context.Background()

	if b.Do(ctx, srv.URL, "GET", "/set?v=a").Sent != "" || b.CookieHeader() != "session=a" {
		t.Fatalf("jar after the first Set-Cookie: %q", b.CookieHeader())
	}
	// A slow request started now carries "a"; a later response sets "b"; the slow one's clearing arrives last
	// and wins, as in a browser.
	var wg sync.WaitGroup
	var slow *Response
	wg.Add(1)
	go func() { defer wg.Done(); slow = b.Do(ctx, srv.URL, "GET", "/slow-clear") }()
	<-arrived // the slow request left with the cookie held then
	if r := b.Do(ctx, srv.URL, "GET", "/set?v=b"); r.Sent != "session=a" || b.CookieHeader() != "session=b" {
		t.Fatalf("sent %q, jar %q", r.Sent, b.CookieHeader())
	}
	close(release)
	wg.Wait()
	if slow.Sent != "session=a" || !slow.Cleared || !b.Empty() {
		t.Fatalf("slow request sent %q, cleared %v, jar %q", slow.Sent, slow.Cleared, b.CookieHeader())
	}
	if last, ok := b.LastChangeBefore(time.Now()); !ok || last.What == "" {
		t.Fatal("no jar history")
	}
	if r := b.Do(ctx, srv.URL, "GET", "/echo"); r.Sent != "" {
		t.Fatalf("an empty jar sent %q", r.Sent)
	}
}

func TestShort(t *testing.T) {
	if got := Short("session=abcdefghij.klmnopqrstu"); got != "session=abcdef….klmnop…" {
		t.Fatalf("Short = %q", got)
	}
	if got := Short(""); got != "(none)" {
		t.Fatalf("Short(\"\") = %q", got)
	}
}
