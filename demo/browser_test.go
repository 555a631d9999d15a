package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/mongosession/mongosession/devdb"
)

// EnvChromium names the variable that points the browser test at a Chromium other than /usr/bin/chromium.
const EnvChromium = "CHROMIUM"

// browserTokenTTL is short so that the test sees rotations within seconds; the browser moves in real time.
const browserTokenTTL = 1500 * time.Millisecond

// TestBrowser drives the demo in headless Chromium: first visit, reload, login, rotation, a second device
// listed and revoked, a replayed old cookie detected and the session revoked, login again, logout. Screenshots land in testdata/screenshots/.
func TestBrowser(t *testing.T) {
	chromium := os.Getenv(EnvChromium)
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if fi, err := os.Stat(chromium); err != nil || fi.IsDir() {
		t.Fatalf("Chromium not found at %s (%v): install it (apt-get install -y chromium) or set $%s to its path; "+
			"this test needs a real browser and does not skip", chromium, err, EnvChromium)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db, err := devdb.Start(ctx, devdb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	a, err := newApp(ctx, appConfig{URI: db.URI(), TokenTTL: browserTokenTTL,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)

	var chromiumOutput bytes.Buffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1100, 1000),
		chromedp.CombinedOutput(&chromiumOutput),
	)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	defer func() {
		if t.Failed() {
			t.Logf("Chromium's output:\n%s", chromiumOutput.String())
		}
	}()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting Chromium (%s): %v\n%s", chromium, err, chromiumOutput.String())
	}
	// Each device is a browser context of its own: its own cookie jar, as a private window has.
	laptopCtx, cancelLaptop := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	defer cancelLaptop()
	laptop := &tab{t: t, ctx: laptopCtx, name: "laptop", base: srv.URL, cookie: a.cookieName()}

	// First visit: an anonymous session in the cookie.
	laptop.do(chromedp.Navigate(srv.URL))
	laptop.wantText("#visits", "1")
	laptop.wantText("#mode", "cookie")
	laptop.wantFingerprintIsCookie()
	laptop.shot("01-first-visit")

	// Reload: the counter goes on (the cookie is resealed).
	laptop.do(chromedp.Reload())
	laptop.wantText("#visits", "2")
	laptop.wantFingerprintIsCookie()

	// Log in: Renew moves the session to MongoDB, with its data.
	laptop.do(chromedp.SendKeys("#name", "ada"), chromedp.Click("#login"), chromedp.WaitVisible("#user"))
	laptop.wantText("#user", "ada")
	laptop.wantText("#mode", "database")
	laptop.wantText("#visits", "3")
	laptop.wantContains("#flash", "Logged in as ada")
	loggedIn := laptop.wantFingerprintIsCookie()
	laptop.shot("02-logged-in")

	// Rotation: after TokenTTL the next request gets a new token, and the fingerprint changes.
	time.Sleep(browserTokenTTL + 200*time.Millisecond)
	laptop.do(chromedp.Reload())
	laptop.wantText("#visits", "4")
	laptop.wantVisible("#rotated")
	if rotated := laptop.wantFingerprintIsCookie(); rotated == loggedIn {
		t.Fatalf("the fingerprint stayed %s across a rotation", rotated)
	}
	laptop.shot("03-rotated")

	// A second device logs in as the same user; the laptop lists it and revokes it.
	phoneCtx, cancelPhone := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	defer cancelPhone()
	phone := &tab{t: t, ctx: phoneCtx, name: "phone", base: srv.URL, cookie: a.cookieName()}
	phone.do(chromedp.Navigate(srv.URL), chromedp.SendKeys("#name", "ada"), chromedp.Click("#login"),
		chromedp.WaitVisible("#user"))
	phone.wantText("#user", "ada")
	phoneHash := phone.text("#session-hash")

	laptop.do(chromedp.Reload())
	if n := laptop.count("tr.device"); n != 2 {
		t.Fatalf("laptop lists %d devices, want 2", n)
	}
	laptop.wantCount(`tr.device[data-hash="`+phoneHash+`"] button.revoke`, 1)
	laptop.shot("04-two-devices")
	laptop.do(chromedp.Click(`tr.device[data-hash="`+phoneHash+`"] button.revoke`), chromedp.WaitVisible("#flash"))
	laptop.wantContains("#flash", "Revoked session "+phoneHash)
	laptop.wantCount("tr.device", 1)
	laptop.wantText("#user", "ada")

	phone.do(chromedp.Reload())
	phone.wantVisible("#login") // logged out by the laptop: a fresh anonymous session
	phone.wantText("#mode", "cookie")
	phone.wantText("#visits", "1")
	phone.shot("05-phone-revoked")

	// A replayed old cookie: rotate past the accepted tokens, let the last retirement age beyond the library's
	// in-flight allowance (younger, a replay cannot be told from a slow request), then let the demo replay
	// the copy. By default a reported replay revokes the session: the thief and the laptop are logged out.
	for range a.mgr.Options().TokensKept {
		time.Sleep(browserTokenTTL + 200*time.Millisecond)
		laptop.do(chromedp.Reload())
		laptop.wantVisible("#rotated")
	}
	laptopHash := laptop.text("#session-hash")
	time.Sleep(replayAfter + 250*time.Millisecond)
	laptop.do(chromedp.Click("#replay"), chromedp.WaitVisible("#flash"))
	for _, want := range []string{"refused", "reported as a security event", "the session was revoked", "Log in again"} {
		laptop.wantContains("#flash", want)
	}
	laptop.wantContains("#previous-events", laptopHash)
	laptop.wantContains("#previous-events", "A replayed old cookie was detected")
	laptop.wantContains("#previous-events", thiefAddr[:strings.IndexByte(thiefAddr, ':')])
	laptop.wantContains("#previous-events", "The session was revoked")
	laptop.wantVisible("#login") // logged out along with the thief
	laptop.wantCount("#user", 0)
	laptop.wantText("#mode", "cookie")
	laptop.shot("06-replay-detected")

	// Log in again: a new session; the revoked one's events are still listed.
	laptop.do(chromedp.SendKeys("#name", "ada"), chromedp.Click("#login"), chromedp.WaitVisible("#user"))
	laptop.wantText("#user", "ada")
	laptop.wantText("#mode", "database")
	if h := laptop.text("#session-hash"); h == laptopHash {
		t.Fatalf("logging in again kept the revoked session %s", h)
	}
	laptop.wantContains("#previous-events", laptopHash)
	laptop.wantVisible("#no-events")

	// Log out: the session is destroyed; the next page starts a new anonymous one.
	laptop.do(chromedp.Click("#logout"), chromedp.WaitVisible("#login"))
	laptop.wantText("#mode", "cookie")
	laptop.wantText("#visits", "1")
	laptop.wantCount("#user", 0)
	laptop.wantCount("#previous-events", 0)
	laptop.shot("07-logged-out")
}

// tab is one browser context driven by the test.
type tab struct {
	t      *testing.T
	ctx    context.Context
	name   string
	base   string // the demo's URL
	cookie string // the session cookie's name
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", b.name, err)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(sel))
	if err != nil {
		b.t.Fatalf("%s: text of %s: %v", b.name, sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *tab) wantText(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); got != want {
		b.t.Fatalf("%s: %s reads %q, want %q", b.name, sel, got, want)
	}
}

func (b *tab) wantContains(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); !strings.Contains(got, want) {
		b.t.Fatalf("%s: %s reads %q, want it to contain %q", b.name, sel, got, want)
	}
}

func (b *tab) wantVisible(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(sel)); err != nil {
		b.t.Fatalf("%s: %s not visible: %v", b.name, sel, err)
	}
}

func (b *tab) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int]("document.querySelectorAll('"+sel+"').length"))
	if err != nil {
		b.t.Fatalf("%s: counting %s: %v", b.name, sel, err)
	}
	return n
}

func (b *tab) wantCount(sel string, want int) {
	b.t.Helper()
	if got := b.count(sel); got != want {
		b.t.Fatalf("%s: %d elements match %s, want %d", b.name, got, sel, want)
	}
}

// wantFingerprintIsCookie checks that the fingerprint the page shows is that of the session cookie the
// browser now holds (an HttpOnly cookie, read through the DevTools protocol), and returns it.
func (b *tab) wantFingerprintIsCookie() string {
	b.t.Helper()
	shown, err := chromedp.Run(b.ctx, chromedp.Evaluate[string]("document.querySelector('#fingerprint').dataset.fp"))
	if err != nil {
		b.t.Fatalf("%s: reading the fingerprint: %v", b.name, err)
	}
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base}})
	if err != nil {
		b.t.Fatalf("%s: reading the cookies: %v", b.name, err)
	}
	var held []string
	for _, c := range res.Cookies {
		if c.Name == b.cookie {
			sum := sha256.Sum256([]byte(c.Value))
			held = append(held, hex.EncodeToString(sum[:4]))
		}
	}
	if len(held) != 1 || held[0] != shown {
		b.t.Fatalf("%s: the page shows fingerprint %s, the browser holds session cookie(s) %v", b.name, shown, held)
	}
	return shown
}

// shot saves a screenshot of the viewport to testdata/screenshots/<name>.png.
func (b *tab) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", b.name, err)
	}
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
