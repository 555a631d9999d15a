package main

import (
	"strings"
	"unicode"
)

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func plural(n int64) string {
	if n == 1 {
		return "session"
	}
	return "sessions"
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
