package mongosession

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Options configure a Manager. The zero value is valid: every field left at its zero value takes the default
// stated in its comment.
type Options struct {
	// TokenTTL is how long a token stays fresh. The first request that reads its session after that rotates
	// the token (a new cookie). Default 5 s. A huge value (for example 100 years) means no rotation writes at all.
	TokenTTL time.Duration

	// TokensKept is how many of the newest tokens are accepted, so that parallel requests that still carry
	// an older cookie keep working. Default 3; at least 2 (a rotation never retires the token the rotating
	// request presented, in case its new cookie never arrives), at most 64.
	TokensKept int

	// IdleTimeout ends a session that has not been used for this long. Default 2 h.
	// Requests that read and write extend the idle deadline. Requests that only read extend it when they
	// rotate the token, or otherwise once the deadline has drifted by more than a tenth of IdleTimeout, so
	// reading costs no write on every request. Write-only requests leave it to the next reading request.
	IdleTimeout time.Duration

	// Lifetime is the absolute lifetime of a session, counted from its creation (or its last Renew).
	// Default 24 h.
	Lifetime time.Duration

	// Timeout bounds each database operation. Default 2 s. Connect the driver with ClientOptions (or
	// equivalent connect and server-selection timeouts), or recovery after an outage takes the driver's 30 s.
	Timeout time.Duration

	// Clock is the one source of time for deadlines, rotation and cookie expiry (tests move it instead of
	// sleeping). Default time.Now. Application servers' clocks may differ by up to 5 s without a request
	// being taken for a replay; expiry itself is decided by the clock of the server handling the request.
	Clock func() time.Time

	// CookieName is the name of the session cookie. Default "__Host-session" whenever the __Host- prefix is
	// possible (Secure, no CookieDomain, CookiePath "/"): browsers then refuse the cookie from a sibling
	// subdomain or over plain http. Otherwise (InsecureCookie, a Domain or another Path) "session".
	CookieName string
	// CookiePath is the cookie's Path attribute. Default "/".
	CookiePath string
	// CookieDomain is the cookie's Domain attribute. Default "" (host-only cookie).
	CookieDomain string
	// CookieSameSite is the cookie's SameSite attribute. Default http.SameSiteLaxMode.
	CookieSameSite http.SameSite
	// CookiePartitioned sets the Partitioned attribute (CHIPS). Default false. Requires Secure.
	CookiePartitioned bool
	// InsecureCookie drops the Secure attribute so the cookie travels over plain http. Default false
	// (Secure is set). Turn it on only for local development without TLS.
	InsecureCookie bool

	// BrowserSessionCookie sends the session cookie without Max-Age and Expires, so the browser forgets it when
	// the browser session ends (when it is closed; browsers that restore tabs on start may restore such cookies
	// too). A session that called Session.RememberMe(true) gets a persistent cookie all the same. The
	// server-side deadlines (IdleTimeout, Lifetime) are the same either way. Default false: the cookie lasts
	// until the session's absolute deadline, unless the session called RememberMe(false).
	BrowserSessionCookie bool

	// CookieHostPrefix prefixes a CookieName you chose with "__Host-", which browsers accept only with Secure,
	// Path=/ and no Domain: the cookie then cannot be set or overwritten by a sibling subdomain. Default false
	// (the default name has the prefix already whenever it is possible).
	CookieHostPrefix bool

	// CookiePurpose is a label that sealed (cookie-mode) cookies are bound to, together with the cookie's
	// name, path and domain: two applications that share CookieKeys and a cookie name must set different
	// purposes, or each accepts the other's sealed sessions. Default "mongosession".
	CookiePurpose string

	// ClientAddr returns the client's address for security events and RecordClientInfo. Default RemoteHost
	// (the peer of the connection). Behind a reverse proxy, return the address the proxy reports, and only for
	// requests that came from the proxy: a client can send any X-Forwarded-For it likes.
	ClientAddr func(r *http.Request) string

	// OnSecurityEvent receives security events, such as a retired token presented again (a copied cookie
	// replayed after the real browser moved on). Events never contain a token. Default: one warning line on
	// Logger.
	OnSecurityEvent func(SecurityEvent)

	// KeepSessionOnReuse keeps a session alive when one of its retired tokens is presented again (the event is
	// still reported). Default false: the session is revoked, as OAuth refresh-token rotation does (RFC 9700,
	// 4.14.2): whoever holds the newer token (a thief who copied the cookie, or the real user) is logged out
	// along with the replayer, so a thief never keeps a session the victim comes back to. Requests that were
	// merely slow are not replays: a token retired after the request arrived (give or take 5 s of clock
	// difference and travel time) is not reported, and a rotation never retires the token of the request
	// that rotates, so lost responses and late database acknowledgements do not retire the browser's token.
	KeepSessionOnReuse bool

	// RecordClientInfo stores the remote address and User-Agent of the client with the session (shown by
	// Manager.Sessions), updated whenever the session is written and they changed. Default false: they are
	// personal data, keep them only if you show them.
	RecordClientInfo bool

	// ErrorFunc is called when the session cannot be loaded or committed (for example the database is down),
	// before any header went out. It must write the response. Default: status 503 and one log line
	// (never containing a token) on Logger.
	ErrorFunc func(w http.ResponseWriter, r *http.Request, err error)

	// Logger receives the library's log lines. Default slog.Default(). At Debug level it also logs the life
	// of sessions (created, rotated, renewed, destroyed, moved to the database), naming them by SessionHash.
	Logger *slog.Logger

	// Metrics receives counts and timings (loads, commits, rotations, errors by kind, ...). Default: none.
	Metrics Metrics

	// CookieKeys turn on cookie mode (see the README section "Cookie mode"): session data sealed into the cookie with
	// AES-256-GCM, no database work. The first key seals, every key opens, so a new key goes first and an old
	// one stays listed until the cookies sealed with it have expired (Lifetime). Each key must be at least 32
	// bytes (an error at New otherwise), ideally 32 random bytes; all its bytes count (it goes through
	// HKDF-SHA256). Default none: cookie mode is off and sealed cookies are treated as no session.
	CookieKeys [][]byte
	// StartInCookie makes new sessions start in cookie mode; they move to the database on Session.Promote,
	// Session.Renew or when they outgrow MaxCookieBytes. Default false (new sessions start in the database).
	// Requires CookieKeys.
	StartInCookie bool
	// MaxCookieBytes is the longest Set-Cookie header value (name, sealed value and attributes) a cookie-mode
	// session may send; a session that would need a longer one moves to the database by itself instead.
	// Default 4096 (what browsers keep for one cookie).
	MaxCookieBytes int
}

// Defaults of Options, applied to zero-valued fields by New.
const (
	DefaultTokenTTL    = 5 * time.Second
	DefaultTokensKept  = 3
	DefaultIdleTimeout = 2 * time.Hour
	DefaultLifetime    = 24 * time.Hour
	DefaultTimeout     = 2 * time.Second
	DefaultCookieName  = "session" // with the "__Host-" prefix whenever it is possible (see Options.CookieName)

	DefaultMaxCookieBytes = 4096

	maxTokensKept = 64
	hostPrefix    = "__Host-"
	securePrefix  = "__Secure-"
)

func (o Options) withDefaults() Options {
	if o.TokenTTL == 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.TokensKept == 0 {
		o.TokensKept = DefaultTokensKept
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Lifetime == 0 {
		o.Lifetime = DefaultLifetime
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CookiePath == "" {
		o.CookiePath = "/"
	}
	hostPossible := !o.InsecureCookie && o.CookieDomain == "" && o.CookiePath == "/"
	if o.CookieName == "" {
		o.CookieName = DefaultCookieName
		o.CookieHostPrefix = o.CookieHostPrefix || hostPossible
	}
	if o.CookieHostPrefix && !hasPrefixFold(o.CookieName, hostPrefix) {
		o.CookieName = hostPrefix + o.CookieName
	}
	if o.CookiePurpose == "" {
		o.CookiePurpose = "mongosession"
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.ClientAddr == nil {
		o.ClientAddr = RemoteHost
	}
	if o.CookieSameSite == 0 {
		o.CookieSameSite = http.SameSiteLaxMode
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxCookieBytes == 0 {
		o.MaxCookieBytes = DefaultMaxCookieBytes
	}
	return o
}

// validate reports impossible combinations with an error that names the field.
func (o Options) validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"TokenTTL", o.TokenTTL}, {"IdleTimeout", o.IdleTimeout}, {"Lifetime", o.Lifetime}, {"Timeout", o.Timeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative (%v)", d.name, d.v))
		}
	}
	if o.TokensKept < 2 || o.TokensKept > maxTokensKept {
		errs = append(errs, fmt.Errorf("TokensKept must be between 2 and %d, got %d", maxTokensKept, o.TokensKept))
	}
	if !validCookieName(o.CookieName) {
		errs = append(errs, fmt.Errorf("CookieName %q is not a valid cookie name", o.CookieName))
	}
	if !strings.HasPrefix(o.CookiePath, "/") || strings.ContainsAny(o.CookiePath, ";\r\n") {
		errs = append(errs, fmt.Errorf("CookiePath %q must start with / and contain no ';'", o.CookiePath))
	}
	if strings.ContainsAny(o.CookieDomain, "; \r\n") {
		errs = append(errs, fmt.Errorf("CookieDomain %q is not a valid domain", o.CookieDomain))
	}
	if o.InsecureCookie && o.CookieSameSite == http.SameSiteNoneMode {
		errs = append(errs, errors.New("CookieSameSite=None requires Secure: it cannot be combined with InsecureCookie"))
	}
	if o.InsecureCookie && o.CookiePartitioned {
		errs = append(errs, errors.New("CookiePartitioned requires Secure: it cannot be combined with InsecureCookie"))
	}
	// Browsers match the prefixes case-insensitively, so "__HOST-x" is held to the same rules.
	if hasPrefixFold(o.CookieName, hostPrefix) {
		if o.InsecureCookie {
			errs = append(errs, errors.New("a __Host- cookie requires Secure: it cannot be combined with InsecureCookie"))
		}
		if o.CookieDomain != "" {
			errs = append(errs, errors.New("a __Host- cookie must not have a Domain"))
		}
		if o.CookiePath != "/" {
			errs = append(errs, fmt.Errorf("a __Host- cookie must have Path=/, not %q", o.CookiePath))
		}
	}
	if hasPrefixFold(o.CookieName, securePrefix) && o.InsecureCookie {
		errs = append(errs, errors.New("a __Secure- cookie requires Secure: it cannot be combined with InsecureCookie"))
	}
	errs = append(errs, o.validateCookieMode()...)
	if len(errs) > 0 {
		return fmt.Errorf("mongosession: invalid options: %w", errors.Join(errs...))
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		// RFC 6265 token: visible ASCII except separators.
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, c) {
			return false
		}
	}
	return true
}
