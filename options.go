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
	// an older cookie keep working. Default 3; at most 64.
	TokensKept int

	// IdleTimeout ends a session that has not been used for this long. Default 2 h.
	// Requests that only read extend the idle deadline when they rotate the token, or otherwise once the
	// deadline has drifted by more than a tenth of IdleTimeout, so reading costs no write on every request.
	IdleTimeout time.Duration

	// Lifetime is the absolute lifetime of a session, counted from its creation (or its last Renew).
	// Default 24 h.
	Lifetime time.Duration

	// Timeout bounds each database operation. Default 2 s.
	Timeout time.Duration

	// CookieName is the name of the session cookie. Default "session".
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

	// ErrorFunc is called when the session cannot be loaded or committed (for example the database is down),
	// before any header went out. It must write the response. Default: status 503 and one log line
	// (never containing a token) on Logger.
	ErrorFunc func(w http.ResponseWriter, r *http.Request, err error)

	// Logger receives the library's log lines. Default slog.Default().
	Logger *slog.Logger

	// CookieKeys turn on cookie mode (see docs/cookie-mode.md): session data sealed into the cookie with
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
	DefaultCookieName  = "session"

	DefaultMaxCookieBytes = 4096

	maxTokensKept = 64
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
	if o.CookieName == "" {
		o.CookieName = DefaultCookieName
	}
	if o.CookiePath == "" {
		o.CookiePath = "/"
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
	if o.TokensKept < 1 || o.TokensKept > maxTokensKept {
		errs = append(errs, fmt.Errorf("TokensKept must be between 1 and %d, got %d", maxTokensKept, o.TokensKept))
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
	errs = append(errs, o.validateCookieMode()...)
	if len(errs) > 0 {
		return fmt.Errorf("mongosession: invalid options: %w", errors.Join(errs...))
	}
	return nil
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
