package main

import (
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkSign/alg=EC_P256/clients=1/layer=raw-kms-2         	     300	    182918 ns/op	       100.0 p50-µs	       665.0 p99-µs	      5467 sig/s
BenchmarkSign/alg=EC_P256/clients=1/layer=floor-2           	     300	    915168 ns/op	       800.0 p50-µs	      6139 p99-µs	      1093 sig/s
BenchmarkSign/alg=EC_P256/clients=1/layer=floor-txn-2           	     300	    915168 ns/op	       900.0 p50-µs	      6139 p99-µs	      1093 sig/s
BenchmarkSign/alg=EC_P256/clients=16/layer=floor-txn-2          	     300	    915017 ns/op	     13756 p50-µs	     45617 p99-µs	      960 sig/s
BenchmarkSign/alg=EC_P256/clients=1/layer=full-http-2       	     300	   2207791 ns/op	      1000 p50-µs	      9634 p99-µs	       452.9 sig/s
BenchmarkSign/alg=EC_P256/clients=1/layer=full-http-2       	     300	   2207791 ns/op	      1200 p50-µs	      9634 p99-µs	       452.9 sig/s
BenchmarkSign/alg=EC_P256/clients=1/layer=full-http-2       	     300	   2207791 ns/op	      9000 p50-µs	      9634 p99-µs	       452.9 sig/s
BenchmarkSign/alg=EC_P256/clients=16/layer=raw-kms-2        	     300	    165368 ns/op	      1755 p50-µs	     10409 p99-µs	      6000 sig/s
BenchmarkSign/alg=EC_P256/clients=16/layer=floor-2          	     300	    915017 ns/op	     13756 p50-µs	     45617 p99-µs	      1000 sig/s
BenchmarkSign/alg=EC_P256/clients=16/layer=full-http-2      	     300	   1984479 ns/op	     26802 p50-µs	     89412 p99-µs	       900 sig/s
BenchmarkSign/alg=EC_P256/clients=16/layer=batch64-http-2   	     300	  17122179 ns/op	    265956 p50-µs	    391888 p99-µs	      4500 sig/s
BenchmarkSignModelledAWS/alg=EC_P256/clients=1/layer=raw-kms-2  	      50	   8300000 ns/op	      8300 p50-µs	      8500 p99-µs	       120 sig/s	     21000 target-µs
BenchmarkSignModelledAWS/alg=EC_P256/clients=1/layer=full-http-2  	      50	  20000000 ns/op	     19500 p50-µs	     22000 p99-µs	        50 sig/s	     21000 target-µs
BenchmarkSign/alg=RSA_2048/clients=1/layer=full-http-2       	     300	   2207791 ns/op	      3000 p50-µs	      9634 p99-µs	       452.9 sig/s
PASS
`

// The summary takes each benchmark's median over its runs (one slow run does not move it)
// and says n/a for a ratio whose runs are missing.
func TestSummarize(t *testing.T) {
	lines, err := summarize(strings.NewReader(sample), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"summary alg=EC_P256 full/raw_p50=12.00 full/floor_p50=1.50 full/floor_tput16=0.90 full/floor-txn_p50=1.33 full/floor-txn_tput16=0.94 batch64/raw_tput16=0.75 modelled_aws_p50_ms=19.5 modelled_kms_p50_ms=8.3 modelled_target_ms=21.0",
		"summary alg=RSA_2048 full/raw_p50=n/a full/floor_p50=n/a full/floor_tput16=n/a full/floor-txn_p50=n/a full/floor-txn_tput16=n/a batch64/raw_tput16=n/a",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if _, err := summarize(strings.NewReader("PASS\n"), nil); err == nil {
		t.Fatal("no results: no error")
	}
}
