package access

import (
	"context"
	"net/http"

	"github.com/opensignum/signum/lib/edge"
	"github.com/opensignum/signum/lib/store"
)

// Page is the JSON form of one page of any listing.
type Page[J any] struct {
	Items []J    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// ServeList answers a listing route the one way they all answer: ?limit and ?cursor in, one
// page from list, each item converted with toJSON, {"items": [...], "next": "..."} out.
func ServeList[T, J any](w http.ResponseWriter, r *http.Request, list func(context.Context, store.PageRequest) (store.Page[T], error), toJSON func(T) J) error {
	limit, cursor, err := edge.PageParams(r, store.MaxPageSize)
	if err != nil {
		return err
	}
	page, err := list(r.Context(), store.PageRequest{Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	out := Page[J]{Items: make([]J, 0, len(page.Items)), Next: page.Next}
	for _, it := range page.Items {
		out.Items = append(out.Items, toJSON(it))
	}
	edge.WriteJSON(w, http.StatusOK, out)
	return nil
}
