// Command signum-benchsum reads the output of `make bench` (go test -bench lines, several
// runs of each benchmark) and prints the signing summary of issue #18, one line per
// algorithm, from the median of each benchmark's runs:
//
//	summary alg=RSA_2048 full/raw_p50=… full/floor_p50=… full/floor_tput16=… full/floor-txn_p50=… full/floor-txn_tput16=… batch64/raw_tput16=… modelled_aws_p50_ms=… modelled_kms_p50_ms=… modelled_target_ms=…
//
// full/raw_p50 and full/floor_p50 are ratios of one client's p50 latencies; full/floor_tput16
// and batch64/raw_tput16 ratios of signatures per second with 16 clients; the floor-txn ratios
// the same against the floor whose completion is a transaction with its checkpoint and counts
// (the shape of #18's target 1); the modelled values come from BenchmarkSignModelledAWS (its
// target: KMS Sign + 2 DynamoDB calls + 3 ms).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func main() {
	in, batch := io.Reader(os.Stdin), io.Reader(nil)
	for i, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer f.Close()
		if i == 0 {
			in = f
		} else {
			batch = f
		}
	}
	lines, err := summarize(in, batch)
	if err != nil {
		fmt.Fprintln(os.Stderr, "signum-benchsum:", err)
		os.Exit(1)
	}
	for _, l := range lines {
		fmt.Println(l)
	}
}

// runs are a benchmark's metric values over its runs, by "<name> <unit>".
type runs map[string][]float64

// benchLine is one result line: the name (without the GOMAXPROCS suffix), then value-unit
// pairs.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func parse(r io.Reader) (runs, error) {
	out := runs{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			k := m[1] + " " + f[i+1]
			out[k] = append(out[k], v)
		}
	}
	return out, sc.Err()
}

// medianOf is the median of the runs of one benchmark metric ("<name> <unit>").
func medianOf(r runs, k string) (float64, bool) {
	v, ok := r[k]
	if !ok || len(v) == 0 {
		return 0, false
	}
	return median(v), true
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// summarize is the summary lines of the runs read from r, one per algorithm that
// BenchmarkSign measured. batch, when set, holds the runs of the 64-digest requests with the
// raw KMS signatures they are compared with, measured side by side in their own run (the raw
// runs of r are another run's).
func summarize(r, batch io.Reader) ([]string, error) {
	all, err := parse(r)
	if err != nil {
		return nil, err
	}
	batches := all
	if batch != nil {
		if batches, err = parse(batch); err != nil {
			return nil, err
		}
	}
	get := func(bench, alg string, clients int, layer, unit string) (float64, bool) {
		return medianOf(all, fmt.Sprintf("%s/alg=%s/clients=%d/layer=%s %s", bench, alg, clients, layer, unit))
	}
	getBatch := func(alg, layer string) (float64, bool) {
		return medianOf(batches, fmt.Sprintf("BenchmarkSign/alg=%s/clients=16/layer=%s sig/s", alg, layer))
	}
	var algs []string
	for k := range all {
		if rest, ok := strings.CutPrefix(k, "BenchmarkSign/alg="); ok {
			alg, _, _ := strings.Cut(rest, "/")
			if !slices.Contains(algs, alg) {
				algs = append(algs, alg)
			}
		}
	}
	if len(algs) == 0 {
		return nil, fmt.Errorf("no BenchmarkSign results in the input")
	}
	sort.Strings(algs)
	var out []string
	for _, alg := range algs {
		line := "summary alg=" + alg
		ratio := func(name string, a, b float64, okA, okB bool) {
			if okA && okB && b > 0 {
				line += fmt.Sprintf(" %s=%.2f", name, a/b)
			} else {
				line += " " + name + "=n/a"
			}
		}
		full1, ok1 := get("BenchmarkSign", alg, 1, "full-http", "p50-µs")
		raw1, ok2 := get("BenchmarkSign", alg, 1, "raw-kms", "p50-µs")
		floor1, ok3 := get("BenchmarkSign", alg, 1, "floor", "p50-µs")
		ratio("full/raw_p50", full1, raw1, ok1, ok2)
		ratio("full/floor_p50", full1, floor1, ok1, ok3)
		full16, ok4 := get("BenchmarkSign", alg, 16, "full-http", "sig/s")
		floor16, ok5 := get("BenchmarkSign", alg, 16, "floor", "sig/s")
		ratio("full/floor_tput16", full16, floor16, ok4, ok5)
		txn1, ok8 := get("BenchmarkSign", alg, 1, "floor-txn", "p50-µs")
		ratio("full/floor-txn_p50", full1, txn1, ok1, ok8)
		txn16, ok9 := get("BenchmarkSign", alg, 16, "floor-txn", "sig/s")
		ratio("full/floor-txn_tput16", full16, txn16, ok4, ok9)
		batch16, ok6 := getBatch(alg, "batch64-http")
		raw16, ok7 := getBatch(alg, "raw-kms")
		ratio("batch64/raw_tput16", batch16, raw16, ok6, ok7)
		if p50, ok := get("BenchmarkSignModelledAWS", alg, 1, "full-http", "p50-µs"); ok {
			line += fmt.Sprintf(" modelled_aws_p50_ms=%.1f", p50/1000)
		}
		if kms, ok := get("BenchmarkSignModelledAWS", alg, 1, "raw-kms", "p50-µs"); ok {
			line += fmt.Sprintf(" modelled_kms_p50_ms=%.1f", kms/1000)
		}
		if target, ok := get("BenchmarkSignModelledAWS", alg, 1, "full-http", "target-µs"); ok {
			line += fmt.Sprintf(" modelled_target_ms=%.1f", target/1000)
		}
		out = append(out, line)
	}
	return out, nil
}
