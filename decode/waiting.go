package decode

import (
	"cmp"
	"slices"
)

// waitQueue holds the sockets whose calls wait for their connection
// (align.go), at most maxWaiting of them. Aligning a call used to look
// every waiting socket's connection up, on every call: when a live
// capture drops packets under load, thousands wait, and that scan took
// most of a run's CPU (issue 12, docs/performance.md). The queue keeps
// instead what settle needs to look at only what may have changed:
//
//   - the sockets in the order they began to wait, linked through
//     older/newer, so that the oldest is given up first in constant time;
//   - the sockets by the hash of their key (the 4-tuple their calls give,
//     never a tunnel's), chained through prevSame/nextSame, so that a
//     connection entering the table under a key finds its sockets by
//     lookup;
//   - due: the sockets that may be able to meet their connection since
//     the last settle, because they began to wait, their calls changed,
//     or a connection entered under their key or reopened.
//
// A waiting socket that is not due cannot have met its connection: what
// decides (the connection under its key, whether it is finished and since
// when, the socket's first call) has not changed since settle last found
// that it could not.
type waitQueue struct {
	oldest, newest *socketCalls
	n              int
	byHash         map[uint64]*socketCalls // the first socket of each chain
	due            []*socketCalls          // each once (socketCalls.due)
	seq            uint64                  // the next socket's place in the order
}

// waitLinks are a socketCalls' places in its waitQueue.
type waitLinks struct {
	waiting            bool
	due                bool
	seq                uint64 // its place in the order the sockets began to wait
	h                  uint64 // key.hash()
	older, newer       *socketCalls
	prevSame, nextSame *socketCalls // other sockets with the same key hash
}

// push makes sc wait, newest, and due.
func (q *waitQueue) push(sc *socketCalls) {
	if q.byHash == nil {
		q.byHash = make(map[uint64]*socketCalls)
	}
	sc.waiting, sc.seq, sc.h = true, q.seq, sc.key.hash()
	q.seq++
	sc.older, sc.newer = q.newest, nil
	if q.newest != nil {
		q.newest.newer = sc
	} else {
		q.oldest = sc
	}
	q.newest = sc
	first := q.byHash[sc.h]
	sc.prevSame, sc.nextSame = nil, first
	if first != nil {
		first.prevSame = sc
	}
	q.byHash[sc.h] = sc
	q.n++
	q.markDue(sc)
}

// remove ends sc's wait. It may stay in due; settle skips it.
func (q *waitQueue) remove(sc *socketCalls) {
	if sc.older != nil {
		sc.older.newer = sc.newer
	} else {
		q.oldest = sc.newer
	}
	if sc.newer != nil {
		sc.newer.older = sc.older
	} else {
		q.newest = sc.older
	}
	switch {
	case sc.prevSame != nil:
		sc.prevSame.nextSame = sc.nextSame
	case sc.nextSame != nil:
		q.byHash[sc.h] = sc.nextSame
	default:
		delete(q.byHash, sc.h)
	}
	if sc.nextSame != nil {
		sc.nextSame.prevSame = sc.prevSame
	}
	sc.older, sc.newer, sc.prevSame, sc.nextSame = nil, nil, nil, nil
	sc.waiting = false
	q.n--
}

// markDue has settle look at sc.
func (q *waitQueue) markDue(sc *socketCalls) {
	if !sc.due {
		sc.due = true
		q.due = append(q.due, sc)
	}
}

// keyChanged has settle look at the sockets whose key hashes to h: a
// connection entered the table under that key, or the one there
// reopened.
func (q *waitQueue) keyChanged(h uint64) {
	if q.n == 0 {
		return
	}
	for sc := q.byHash[h]; sc != nil; sc = sc.nextSame {
		q.markDue(sc)
	}
}

// sortDue puts the due sockets in the order they began to wait: the
// order a scan of all the waiting sockets would meet them in, which is the
// order their calls reach the handler.
func (q *waitQueue) sortDue() {
	if len(q.due) > 1 {
		slices.SortFunc(q.due, func(a, b *socketCalls) int { return cmp.Compare(a.seq, b.seq) })
	}
}

// keysChanged has settle look at the sockets waiting under any of c's
// keys.
func (t *Tracker) keysChanged(c *Connection) {
	if t.waits.n == 0 {
		return
	}
	t.waits.keyChanged(c.key.hash())
	if c.paths != nil {
		for i := range c.paths.aliases {
			t.waits.keyChanged(c.paths.aliases[i].hash())
		}
	}
}
