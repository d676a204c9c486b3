// Command jimubench loads and measures Jimu.
//
//	jimubench load -db sqlite:///path/jimu.db -n 1000000
//	    creates the deal entity (when missing) and inserts generated deals
//	    through the records service — the full write pipeline, validation
//	    included — until the entity holds n records.
//
//	jimubench http -url http://127.0.0.1:8090 -email … -password … -duration 20s -c 16
//	    measures a running server over HTTP: creates at concurrency c, list
//	    pages with a filter and a sort, and reads by id; prints a markdown
//	    table.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "jimubench:", err)
		os.Exit(1)
	}
}

const usage = `jimubench — load and measure Jimu.

Usage:
  jimubench load -db sqlite:///path/jimu.db -n 1000000 [-workers 4]
  jimubench http -url http://127.0.0.1:8090 -email E -password P [-duration 20s] [-c 16]
  jimubench board -url http://127.0.0.1:8090 -email E -password P [-warm 20]

Run "jimubench <command> -h" for a command's flags.
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "load":
		return load(args[1:], stdout, stderr)
	case "http":
		return httpBench(args[1:], stdout, stderr)
	case "board":
		return boardBench(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
