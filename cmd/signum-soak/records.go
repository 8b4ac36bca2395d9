package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// event is what the check needs of a signing event, as GET /console/events gives it: the
// public JSON, so that the check does not depend on how the service keeps its log.
type event struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Decision string `json:"decision"`
	// Of and SignatureSHA256, on a completion, are the decision it completes and the SHA-256
	// of each of its digests' signatures, comma-separated in the digests' order (in logs
	// written before a request was one decision: the decisions, one per digest, and their
	// signatures' hashes in the same order).
	Of              string `json:"of"`
	Outcome         string `json:"outcome"`
	SignatureSHA256 string `json:"signatureSha256"`
}

// recordCheck is how the returned signatures compare with the event log.
type recordCheck struct {
	// unrecorded are the signatures ("<decision id>#<digest's place>") returned to a client
	// without an allow decision and a signed completion that carries the signature's SHA-256.
	unrecorded []string
	// orphans are the signatures a signed completion claims that no client received.
	orphans []string
	// malformed are completions whose lists of decisions and hashes differ in length.
	malformed []string
	// decisions and completions count the log's events by decision and by outcome.
	decisions, completions map[string]int
}

// checkRecords compares returned ("<decision id>#<digest's place in the request>" → SHA-256 of
// the signature returned) with the
// events of the deployment's log: the service's promise is that no signature leaves it
// without its decision and its completion recorded, and that no completion claims a
// signature it did not return.
func checkRecords(returned map[string]string, events []event) recordCheck {
	c := recordCheck{decisions: map[string]int{}, completions: map[string]int{}}
	allowed := map[string]bool{}
	claimed := map[string]string{}
	for _, e := range events {
		switch e.Kind {
		case "decision":
			c.decisions[e.Decision]++
			if e.Decision == "allow" {
				allowed[e.ID] = true
			}
		case "completion":
			c.completions[e.Outcome]++
			if e.Outcome != "signed" {
				continue
			}
			ids, sums := strings.Split(e.Of, ","), strings.Split(e.SignatureSHA256, ",")
			switch {
			case len(ids) == 1:
				for i, sum := range sums {
					claimed[fmt.Sprintf("%s#%d", ids[0], i)] = sum
				}
			case len(ids) == len(sums):
				for i, id := range ids {
					claimed[id+"#0"] = sums[i]
				}
			default:
				c.malformed = append(c.malformed, e.ID)
			}
		}
	}
	for id, sum := range returned {
		decision, _, _ := strings.Cut(id, "#")
		if !allowed[decision] || claimed[id] != sum {
			c.unrecorded = append(c.unrecorded, id)
		}
	}
	for id := range claimed {
		if _, ok := returned[id]; !ok {
			c.orphans = append(c.orphans, id)
		}
	}
	return c
}

// console reads a deployment's console API with a token.
type console struct {
	url, host, token string
	http             *http.Client
}

func (c console) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.url+path, nil)
	if err != nil {
		return err
	}
	req.Host = c.host
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s on %s: %d %.300s", path, c.host, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// events reads the deployment's whole signing-event log, page by page.
func (c console) events(ctx context.Context) ([]event, error) {
	var all []event
	cursor := ""
	for {
		var page struct {
			Items []event `json:"items"`
			Next  string  `json:"next"`
		}
		if err := c.get(ctx, "/console/events?limit=100&cursor="+url.QueryEscape(cursor), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all, nil
		}
		cursor = page.Next
	}
}

// verification is the answer of GET /console/events/verify.
type verification struct {
	Intact   bool              `json:"intact"`
	Events   int               `json:"eventsChecked"`
	Problems []json.RawMessage `json:"problems"`
}

func (c console) verify(ctx context.Context) (verification, error) {
	var v verification
	err := c.get(ctx, "/console/events/verify", &v)
	return v, err
}
