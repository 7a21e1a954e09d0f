package loadgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ResultPrefix starts the stdout lines on which a load-generator pod
// reports its Summary; e2e/framework/loadtest looks for them in the pod's log.
const ResultPrefix = "FLTS_LOADGEN_RESULT "

// ResultChunk bounds the JSON carried by one result line. The container
// runtime splits longer lines into 16 KiB log entries and interleaves the
// stderr pipe's lines between them (seen on a 49 KB result: a log line in
// the middle of the JSON), so every line stays well under 16 KiB.
const ResultChunk = 8 << 10

// WriteResult writes s as numbered lines `FLTS_LOADGEN_RESULT i/n <json part>`.
func WriteResult(w io.Writer, s Summary) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("failed to encode summary: %w", err)
	}
	n := (len(data) + ResultChunk - 1) / ResultChunk
	bw := bufio.NewWriter(w)
	for i := range n {
		part := data[i*ResultChunk : min((i+1)*ResultChunk, len(data))]
		// One Write per line: a whole line reaches the pipe at once.
		line := fmt.Sprintf("%s%d/%d %s\n", ResultPrefix, i+1, n, part)
		if _, err := bw.WriteString(line); err != nil {
			return fmt.Errorf("failed to write result: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("failed to write result: %w", err)
		}
	}
	return nil
}

// ReadResult finds the result lines in a log (other lines may stand
// between them) and decodes the Summary. A result written more than once
// (a restarted container) counts from its last first line.
func ReadResult(r io.Reader) (Summary, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var parts []string
	total := 0
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), ResultPrefix)
		if !ok {
			continue
		}
		seq, part, ok := strings.Cut(rest, " ")
		is, ns, ok2 := strings.Cut(seq, "/")
		i, err1 := strconv.Atoi(is)
		n, err2 := strconv.Atoi(ns)
		if !ok || !ok2 || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
			return Summary{}, fmt.Errorf("malformed result line %.60q", sc.Text())
		}
		if i == 1 {
			parts, total = make([]string, n), n
		}
		if n != total || parts == nil {
			return Summary{}, fmt.Errorf("result part %d/%d does not belong to a result of %d parts", i, n, total)
		}
		parts[i-1] = part
	}
	if err := sc.Err(); err != nil {
		return Summary{}, fmt.Errorf("failed to read log: %w", err)
	}
	if total == 0 {
		return Summary{}, fmt.Errorf("no %q line in the log", strings.TrimSpace(ResultPrefix))
	}
	for i, p := range parts {
		if p == "" {
			return Summary{}, fmt.Errorf("result incomplete: part %d of %d missing", i+1, total)
		}
	}
	var s Summary
	if err := json.Unmarshal([]byte(strings.Join(parts, "")), &s); err != nil {
		return Summary{}, fmt.Errorf("failed to decode %s: %w", strings.TrimSpace(ResultPrefix), err)
	}
	if s.Model == "" {
		return Summary{}, fmt.Errorf("%s has no model: not a load summary", strings.TrimSpace(ResultPrefix))
	}
	return s, nil
}
