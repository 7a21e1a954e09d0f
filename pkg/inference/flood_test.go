//go:build !race

// The race detector multiplies memory use and CPU time: this test runs in
// `make test`'s pass without it (see the Makefile's unit target).

package inference

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// floodBodies are 1 MiB request bodies of the shapes that cost a parser
// the most memory per byte: many tiny values, one huge value, many keys,
// deep nesting; each is answered 4xx (or 429 when the queue is full).
func floodBodies() map[string][]byte {
	const size = 1 << 20
	fill := func(prefix, unit, suffix string) []byte {
		var b bytes.Buffer
		b.WriteString(prefix)
		for b.Len()+len(unit)+len(suffix) < size {
			b.WriteString(unit)
		}
		b.WriteString(suffix)
		return b.Bytes()
	}
	return map[string][]byte{
		"tiny values":   fill(`{"data":{"down":[1`, `,1`, `]}}`),
		"one long time": fill(`{"data":{"time":["`, `x`, `"]}}`),
		"many keys":     fill(`{"data":{"k0":[1]`, `,"k":[1]`, `}}`),
		"deep nesting":  fill(`{"data":{"down":`, `[`, ``),
		"long number":   fill(`{"inference_length":1`, `0`, `}`),
	}
}

// peakRSS returns the process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("VmHWM not in /proc/self/status")
	return 0
}

// TestFloodOfLargeBodiesStaysUnderTheMemoryLimit sends 64 parallel 1 MiB
// requests of each shape to one server under a 256 MiB Go memory limit (the
// pod's), and checks that every answer is a 4xx JSON error (429 counted
// apart), never a 5xx, and that the process's peak RSS stays under the
// limit: admission before the body is read bounds memory by MaxInFlight
// bodies, whatever the queue holds.
func TestFloodOfLargeBodiesStaysUnderTheMemoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 320 MiB of requests")
	}
	const limit = 256 << 20
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit))
	// Reset the peak so earlier tests in this binary do not count.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
	// The deadline is not what this test is about (TestDeadlineAnswers504
	// is): a generous one keeps a slow machine from turning queue waits
	// into 504s.
	_, ts := newTestServer(t, Config{RequestTimeout: time.Minute}, &fakePredictor{runID: "r"})
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64}}
	for name, body := range floodBodies() {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			codes := map[int]int{}
			var wg sync.WaitGroup
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := client.Post(ts.URL+"/predict", "application/json", bytes.NewReader(body))
					if err != nil {
						t.Errorf("request failed: %v", err)
						return
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if !bytes.HasPrefix(raw, []byte("{")) {
						t.Errorf("HTTP %d with a body that is not JSON: %.80q", resp.StatusCode, raw)
					}
					mu.Lock()
					codes[resp.StatusCode]++
					mu.Unlock()
				}()
			}
			wg.Wait()
			for code, n := range codes {
				if code < 400 || code > 499 {
					t.Errorf("%d answers with HTTP %d, want 4xx only (codes %v)", n, code, codes)
				}
			}
			t.Logf("%s (%d bytes): answers %v", name, len(body), codes)
		})
	}
	peak := peakRSS(t)
	t.Logf("peak RSS under the flood: %d MiB (limit %d MiB)", peak>>20, limit>>20)
	if peak >= limit {
		t.Errorf("peak RSS %d MiB reached the %d MiB limit", peak>>20, limit>>20)
	}
}
