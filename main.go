// Command socktrace shows the life of a TCP connection from both sides at
// once: socket calls and the segments they put on the wire, on one timeline.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := &cli.App{Name: "socktrace", Usage: "socket calls and TCP segments on one timeline"}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "socktrace:", err)
		os.Exit(1)
	}
}
