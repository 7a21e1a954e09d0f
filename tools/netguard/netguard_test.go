package netguard

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// fakeIptables keeps rules per chain and answers like iptables/docker do.
type fakeHost struct {
	chains   map[string][][]string
	networks map[string]string
	calls    []string
}

func (f *fakeHost) run(_ context.Context, name string, args ...string) (string, error) {
	f.calls = append(f.calls, name+" "+strings.Join(args, " "))
	switch name {
	case "docker":
		switch args[1] {
		case "inspect":
			if s, ok := f.networks[args[2]]; ok {
				return `[{"Name":"kind","IPAM":{"Config":[{"Subnet":"fc00:f853:ccd:e793::/64"},{"Subnet":"` + s + `","Gateway":"x"}]}}]`, nil
			}
			return "", errors.New("no such network")
		case "create":
			i := slices.Index(args, "--subnet")
			f.networks[args[len(args)-1]] = args[i+1]
			return "id", nil
		}
	case "iptables":
		switch args[0] {
		case "-n":
			if _, ok := f.chains[args[2]]; ok {
				return "", nil
			}
			return "", errors.New("no chain")
		case "-N":
			f.chains[args[1]] = nil
			return "", nil
		case "-C":
			for _, r := range f.chains[args[1]] {
				if slices.Equal(r, args[2:]) {
					return "", nil
				}
			}
			return "", errors.New("bad rule")
		case "-I":
			f.chains[args[1]] = append([][]string{args[2:]}, f.chains[args[1]]...)
			return "", nil
		}
	}
	return "", errors.New("unexpected command")
}

func TestEnsureIsIdempotentAndCreatesChain(t *testing.T) {
	host := &fakeHost{chains: map[string][][]string{"FORWARD": nil}, networks: map[string]string{}}
	g := New(nil)
	g.Run = host.run
	for range 3 {
		if err := g.Ensure(context.Background(), "172.30.0.0/16"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(host.chains[chain]); n != 1 {
		t.Fatalf("want exactly one rule, got %d: %v", n, host.chains[chain])
	}
	got := strings.Join(host.chains[chain][0], " ")
	if !strings.HasPrefix(got, "-s 172.30.0.0/16 ! -d 172.30.0.0/16") || !strings.HasSuffix(got, "-j REJECT") {
		t.Errorf("rule %q", got)
	}
	if len(host.chains["FORWARD"]) != 1 {
		t.Errorf("FORWARD jump missing: %v", host.chains["FORWARD"])
	}
}

func TestEnsureNormalisesAndRejectsBadSubnets(t *testing.T) {
	host := &fakeHost{chains: map[string][][]string{chain: nil}, networks: map[string]string{}}
	g := New(nil)
	g.Run = host.run
	if err := g.Ensure(context.Background(), "172.30.4.5/16"); err != nil {
		t.Fatal(err)
	}
	if host.chains[chain][0][1] != "172.30.0.0/16" {
		t.Errorf("subnet not masked: %v", host.chains[chain][0])
	}
	for _, bad := range []string{"", "nonsense", "fc00::/64"} {
		if err := g.Ensure(context.Background(), bad); err == nil {
			t.Errorf("want error for %q", bad)
		}
	}
}

func TestEnsureNetworkCreatesOrReusesKind(t *testing.T) {
	host := &fakeHost{chains: map[string][][]string{}, networks: map[string]string{}}
	g := New(nil)
	g.Run = host.run
	got, err := g.EnsureNetwork(context.Background(), DefaultSubnet)
	if err != nil || got != DefaultSubnet {
		t.Fatalf("got %q %v", got, err)
	}
	host.networks[NetworkName] = "172.18.0.0/16"
	got, err = g.EnsureNetwork(context.Background(), DefaultSubnet)
	if err != nil || got != "172.18.0.0/16" {
		t.Fatalf("existing network: got %q %v", got, err)
	}
	if _, err := g.EnsureNetwork(context.Background(), "bad"); err == nil {
		t.Error("want error for bad subnet")
	}
}

func TestIPv4SubnetNeedsIPv4(t *testing.T) {
	if _, err := IPv4Subnet([]byte(`[{"IPAM":{"Config":[{"Subnet":"fc00::/64"}]}}]`)); err == nil {
		t.Error("want error when only IPv6 is configured")
	}
	if _, err := IPv4Subnet([]byte(`nope`)); err == nil {
		t.Error("want error for bad JSON")
	}
}
