// Package report turns connections, segments and calls into what people read:
// the explained text timeline, the NDJSON stream, the sequence diagram and the
// summary. The explanation texts, in English and Korean, live here. Report
// never touches a socket or a file other than the writer it is given.
package report
