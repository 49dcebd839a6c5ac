package main

import (
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/socktrace/socktrace/demo"
	"github.com/socktrace/socktrace/internal/slowlink"
)

// slowLink makes the link --rtt and --loss ask for, or returns nil when
// neither is given.
func slowLink(c *cli.Context, names []string) (*slowlink.Link, error) {
	if !c.IsSet("rtt") && !c.IsSet("loss") {
		return nil, nil
	}
	loss, err := parseLoss(c.String("loss"))
	if err != nil {
		return nil, err
	}
	rtt := c.Duration("rtt")
	if rtt < 0 || rtt > 10e9 {
		return nil, usagef("--rtt %v is out of range: use 0 to 10s", rtt)
	}
	return slowlink.Create(slowlink.Config{RTT: rtt, Loss: loss, IPv6: c.Bool("ipv6")})
}

// linkScenarios checks the scenarios against --rtt and --loss: one that
// needs client and server on one host (self-connect) cannot run across
// the link. Named on its own, it is a usage error; under --scenario all it
// is left out, with a note on stderr, and the others run.
func linkScenarios(c *cli.Context, names []string) ([]string, error) {
	if !c.IsSet("rtt") && !c.IsSet("loss") {
		return names, nil
	}
	kept := names[:0:0]
	for _, name := range names {
		sc, _ := demo.Lookup(name)
		switch {
		case !sc.OneHost:
			kept = append(kept, name)
		case c.String("scenario") != "all":
			return nil, usagef("--scenario %s runs on one host (a socket connects to itself): it cannot run across the slow link of --rtt and --loss; run it without them", name)
		default:
			warnf(c.App.ErrWriter, "socktrace: skipping scenario %s with --rtt/--loss: it runs on one host (a socket connects to itself), so nothing of it would cross the slow link\n", name)
		}
	}
	return kept, nil
}

// parseLoss reads --loss: "5%", "5" (percent) or "" (none).
func parseLoss(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || v > 100 {
		return 0, usagef("--loss %q is not a percentage: use 0%% to 100%%, such as 5%%", s)
	}
	return v / 100, nil
}
