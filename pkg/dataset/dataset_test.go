package dataset

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestGenerateIsDeterministicAndShaped(t *testing.T) {
	cfg := GenerateConfig{Rows: 3000, Seed: 7}
	a, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(cfg)
	c, _ := Generate(GenerateConfig{Rows: 3000, Seed: 8})
	if len(a.Times) != 3000 || len(a.Values) != 3000 {
		t.Fatalf("got %d times / %d rows, want 3000", len(a.Times), len(a.Values))
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	var buf1, buf2, buf3 bytes.Buffer
	_ = WriteCSV(&buf1, a)
	_ = WriteCSV(&buf2, b)
	_ = WriteCSV(&buf3, c)
	if !bytes.Equal(buf1.Bytes(), buf2.Bytes()) {
		t.Fatal("same seed gave different frames")
	}
	if bytes.Equal(buf1.Bytes(), buf3.Bytes()) {
		t.Fatal("different seeds gave the same frame")
	}
	gaps := 0
	for i := 1; i < len(a.Times); i++ {
		if a.Times[i].Sub(a.Times[i-1]) > DefaultStep {
			gaps++
		}
	}
	if gaps == 0 {
		t.Error("expected dropped rows (time gaps)")
	}
	if a.Missing() == 0 {
		t.Error("expected missing values")
	}
	// Magnitudes span the real data's range: ~1e8 for down, ~1e-8 for rb_up_var.
	mean := func(col int) float64 {
		s, n := 0.0, 0
		for _, r := range a.Values {
			if !math.IsNaN(r[col]) {
				s += r[col]
				n++
			}
		}
		return s / float64(n)
	}
	if m := mean(0); m < 1e7 || m > 1e9 {
		t.Errorf("down mean %g, want ~1e8", m)
	}
	if m := mean(NumKPIs - 1); m < 1e-9 || m > 1e-7 {
		t.Errorf("rb_up_var mean %g, want ~1e-8", m)
	}
}

func TestGenerateHasDailySeasonality(t *testing.T) {
	f, _ := Generate(GenerateConfig{Rows: 5000, Seed: 1})
	// Mean of "down" between 02:00-04:00 must be well below 17:00-19:00.
	var night, evening, nn, ne float64
	for i, ts := range f.Times {
		v := f.Values[i][0]
		if math.IsNaN(v) {
			continue
		}
		switch h := ts.Hour(); {
		case h >= 2 && h < 4:
			night += v
			nn++
		case h >= 17 && h < 19:
			evening += v
			ne++
		}
	}
	if night/nn > 0.7*evening/ne {
		t.Fatalf("night mean %g not clearly below evening mean %g", night/nn, evening/ne)
	}
}

func TestCSVRoundTrip(t *testing.T) {
	f, _ := Generate(GenerateConfig{Rows: 500, Seed: 3})
	var buf bytes.Buffer
	if err := WriteCSV(&buf, f); err != nil {
		t.Fatal(err)
	}
	g, err := ReadCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Times) != len(f.Times) {
		t.Fatalf("got %d rows, want %d", len(g.Times), len(f.Times))
	}
	for i := range f.Times {
		if !g.Times[i].Equal(f.Times[i]) {
			t.Fatalf("row %d time %v != %v", i, g.Times[i], f.Times[i])
		}
		for k, v := range f.Values[i] {
			w := g.Values[i][k]
			if math.IsNaN(v) != math.IsNaN(w) || (!math.IsNaN(v) && v != w) {
				t.Fatalf("row %d col %d: %v != %v", i, k, w, v)
			}
		}
	}
}

func TestReadCSVAcceptsReorderedColumnsAndSpaceTimes(t *testing.T) {
	in := "idx,rb_up_var,time," + strings.Join(KPIs()[:NumKPIs-1], ",") + "\n" +
		"0,1e-8,2018-03-28 00:00:00,1,2,3,4,5,6,7,8,9,10\n" +
		"1,,2018-03-28 00:02:00,1,2,3,4,5,6,7,8,9,nan\n"
	f, err := ReadCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if f.Values[0][NumKPIs-1] != 1e-8 || f.Values[0][0] != 1 {
		t.Fatalf("columns not mapped by name: %v", f.Values[0])
	}
	if !math.IsNaN(f.Values[1][NumKPIs-1]) || !math.IsNaN(f.Values[1][NumKPIs-2]) {
		t.Fatalf("empty/nan cells not missing: %v", f.Values[1])
	}
	if want := time.Date(2018, 3, 28, 0, 2, 0, 0, time.UTC); !f.Times[1].Equal(want) {
		t.Fatalf("time %v, want %v", f.Times[1], want)
	}
}

func TestReadCSVErrors(t *testing.T) {
	header := "time," + strings.Join(KPIs(), ",") + "\n"
	good := "2018-03-28T00:00:00Z,1,2,3,4,5,6,7,8,9,10,11\n"
	cases := map[string]struct{ in, want string }{
		"empty":          {"", "header line is required"},
		"missing column": {"time,down,up\n", "lacks column(s) rnti_count"},
		"no rows":        {header, "no data rows"},
		"not a number": {header + good +
			"2018-03-28T00:02:00Z,1,2,3,4,5,abc,7,8,9,10,11\n", `line 3, column "mcs_up": "abc" is not a number`},
		"bad time":     {header + "yesterday,1,2,3,4,5,6,7,8,9,10,11\n", `line 2, column "time"`},
		"short row":    {header + "2018-03-28T00:00:00Z,1,2\n", "line 2 has 3 fields, the header has 12"},
		"out of order": {header + good + good, `line 3, column "time"`},
		"infinite":     {header + "2018-03-28T00:00:00Z,1,2,3,4,5,6,7,8,9,10,+Inf\n", `column "rb_up_var": "+Inf" is not a number`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tc.in))
			if err == nil {
				t.Fatal("expected an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
