// Package decode turns captured bytes into TCP segments and segments (plus
// socket-call events) into connections: it parses link, IP and TCP headers
// without allocating, tracks both endpoints' RFC 9293 state machines,
// classifies how each connection opened and closed, computes its metrics, and
// aligns socket calls with the segments they caused. It never prints.
package decode
