package filter

import "strings"

// tokKind is the lexical class of a token.
type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokLParen
	tokRParen
	tokNot   // "!" (the word "not" is a tokWord until the parser sees it)
	tokAnd   // "&&"
	tokOr    // "||"
	tokSlash // "/"
	tokBad   // a character or operator outside the subset
)

// token is one lexeme with its byte offset in the expression.
type token struct {
	kind tokKind
	text string
	off  int
}

// isWordByte reports whether c may appear in a word: keywords, numbers,
// dotted IPv4 addresses, IPv6 addresses and port ranges ("1-1024").
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == ':' || c == '-' || c == '_'
}

// lex splits expr into tokens. It never fails: characters outside the
// subset become tokBad tokens so that the parser can report them in place.
func lex(expr string) []token {
	var toks []token
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", i})
			i++
		case c == '/':
			toks = append(toks, token{tokSlash, "/", i})
			i++
		case strings.HasPrefix(expr[i:], "&&"):
			toks = append(toks, token{tokAnd, "&&", i})
			i += 2
		case strings.HasPrefix(expr[i:], "||"):
			toks = append(toks, token{tokOr, "||", i})
			i += 2
		case strings.HasPrefix(expr[i:], "!="):
			toks = append(toks, token{tokBad, "!=", i})
			i += 2
		case c == '!':
			toks = append(toks, token{tokNot, "!", i})
			i++
		case isWordByte(c):
			j := i
			for j < len(expr) && isWordByte(expr[j]) {
				j++
			}
			toks = append(toks, token{tokWord, expr[i:j], i})
			i = j
		default:
			// One bad token up to the next space or parenthesis, so the
			// message quotes something recognisable like "ether[0]".
			j := i + 1
			for j < len(expr) && expr[j] != ' ' && expr[j] != '(' && expr[j] != ')' {
				j++
			}
			toks = append(toks, token{tokBad, expr[i:j], i})
			i = j
		}
	}
	return append(toks, token{tokEOF, "", len(expr)})
}
