// Command prober is the integration test's workload: `prober serve ADDR`
// answers every HTTP request with the pod's host name, `prober resolve NAME`
// resolves a DNS name through the pod's resolv.conf and prints the addresses,
// `prober write FILE TEXT` and `prober read FILE` prove a volume keeps data
// from one pod to the next.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	want := map[string]int{"serve": 3, "resolve": 3, "read": 3, "write": 4}
	if len(os.Args) < 2 || want[os.Args[1]] != len(os.Args) {
		fmt.Fprintln(os.Stderr, "usage: prober serve ADDR | prober resolve NAME | prober write FILE TEXT | prober read FILE")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		host, _ := os.Hostname()
		srv := &http.Server{Addr: os.Args[2], ReadHeaderTimeout: 5 * time.Second,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, host) })}
		if err := srv.ListenAndServe(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "resolve":
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupHost(ctx, os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(strings.Join(addrs, " "))
	case "write":
		if err := os.WriteFile(os.Args[2], []byte(os.Args[3]), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "read":
		b, err := os.ReadFile(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(string(b))
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}
