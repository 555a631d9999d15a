package main

import (
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// errorLine is the text of err for the one line on stderr that already starts with "mongosession: ".
func errorLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	return strings.TrimPrefix(s, "mongosession: ") // the library's own prefix, said once
}

func plural(n int64) string {
	if n == 1 {
		return "session"
	}
	return "sessions"
}

// newTable writes tab-separated cells as aligned columns; Flush ends the table.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// timestamp shows t in UTC, RFC 3339; the zero time as '-'.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// printable shows client-supplied text (a User-Agent) safely on a terminal: control characters and tabs
// become '?', and an empty value '-'.
func printable(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}
