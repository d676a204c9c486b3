package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// boardWidgets is the six-widget board of issue 18 over the loaded deals:
// a KPI, the funnel by stage, the amount by month in a time zone, the top
// 10 owners, stage × quarter stacked, and a pie (by stage: the bench deal
// has no source field).
var boardWidgets = []any{
	map[string]any{"id": "kpi", "type": "kpi", "target": 1e6, "query": map[string]any{"entity": "deal", "filter": `stage == "won"`}},
	map[string]any{"id": "funnel", "type": "funnel", "query": map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "stage"}}}},
	map[string]any{"id": "per_month", "type": "line", "query": map[string]any{"entity": "deal",
		"group_by": []any{map[string]any{"field": "close_date", "bucket": "month"}}, "measure": map[string]any{"op": "sum", "field": "amount"}, "timezone": "Asia/Shanghai"}},
	map[string]any{"id": "top_owners", "type": "table", "query": map[string]any{"entity": "deal",
		"group_by": []any{map[string]any{"field": "owner"}}, "measure": map[string]any{"op": "sum", "field": "amount"}, "sort": "-value", "limit": 10}},
	map[string]any{"id": "stage_quarter", "type": "stacked_bar", "query": map[string]any{"entity": "deal",
		"group_by": []any{map[string]any{"field": "close_date", "bucket": "quarter"}, map[string]any{"field": "stage"}}}},
	map[string]any{"id": "pie", "type": "pie", "query": map[string]any{"entity": "deal", "group_by": []any{map[string]any{"field": "stage"}}}},
}

// boardBench creates the board and times it for an admin and a Sales
// Rep: cold (the first answer after a write to deal, so no kept
// aggregate serves it), then warm; each widget's time and the whole
// board's, its six widgets asked at once as the app asks them.
func boardBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("board", stderr)
	base := fs.String("url", "http://127.0.0.1:8090", "the running jimu serve")
	email := fs.String("email", "", "an admin's e-mail")
	password := fs.String("password", "", "the admin's password")
	warm := fs.Int("warm", 20, "warm board views to time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" || *password == "" {
		return errors.New("board needs -email and -password of an admin")
	}
	ctx := context.Background()
	admin, err := newClient(*base, 8)
	if err != nil {
		return err
	}
	if err := admin.login(ctx, *email, *password); err != nil {
		return err
	}
	rep, _ := newClient(*base, 8)
	if err := rep.login(ctx, RepEmail(0), RepPassword); err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"name": "Bench board", "timezone": "Asia/Shanghai", "sharing": "everyone", "widgets": boardWidgets})
	var d struct{ ID string }
	if st, err := admin.do(ctx, "POST", "/api/v1/dashboards", body, &d); err != nil || st != 201 {
		return fmt.Errorf("create the board: status %d %v", st, err)
	}
	view := func(c *client) (time.Duration, map[string]time.Duration, error) {
		times := map[string]time.Duration{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		var firstErr error
		t0 := time.Now()
		for _, w := range boardWidgets {
			id := w.(map[string]any)["id"].(string)
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := time.Now()
				var out struct{ Rows []any }
				// As the app asks them: ?board=1 lets the first compute
				// the board's aggregates together.
				st, err := c.do(ctx, "GET", "/api/v1/dashboards/"+d.ID+"/widgets/"+id+"/data?board=1", nil, &out)
				mu.Lock()
				defer mu.Unlock()
				times[id] = time.Since(t)
				if (err != nil || st != 200) && firstErr == nil {
					firstErr = fmt.Errorf("widget %s: status %d %v", id, st, err)
				}
			}()
		}
		wg.Wait()
		return time.Since(t0), times, firstErr
	}
	write := func() error {
		b, _ := json.Marshal(map[string]any{"name": "Board bench write", "amount": 1, "stage": "lead", "close_date": "2026-01-01"})
		st, err := admin.do(ctx, "POST", "/api/v1/records/deal", b, nil)
		if err != nil || st != 201 {
			return fmt.Errorf("write: status %d %v", st, err)
		}
		return nil
	}
	for _, who := range []struct {
		name string
		c    *client
	}{{"admin", admin}, {"sales rep", rep}} {
		if err := write(); err != nil {
			return err
		}
		total, times, err := view(who.c)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s cold board: %s (%s)\n", who.name, ms(total), widgetTimes(times))
		var all []time.Duration
		for range *warm {
			total, _, err := view(who.c)
			if err != nil {
				return err
			}
			all = append(all, total)
		}
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		fmt.Fprintf(stdout, "%s warm board: median %s, max %s over %d views\n", who.name, ms(all[len(all)/2]), ms(all[len(all)-1]), len(all))
	}
	// Each widget alone, cold, one at a time: its query time.
	fmt.Fprintln(stdout, "each widget alone, cold (admin):")
	for _, w := range boardWidgets {
		id := w.(map[string]any)["id"].(string)
		if err := write(); err != nil {
			return err
		}
		t := time.Now()
		if st, err := admin.do(ctx, "GET", "/api/v1/dashboards/"+d.ID+"/widgets/"+id+"/data", nil, nil); err != nil || st != 200 {
			return fmt.Errorf("widget %s: status %d %v", id, st, err)
		}
		fmt.Fprintf(stdout, "  %-14s %s\n", id, ms(time.Since(t)))
	}
	return nil
}

func widgetTimes(t map[string]time.Duration) string {
	var parts []string
	for _, w := range boardWidgets {
		id := w.(map[string]any)["id"].(string)
		parts = append(parts, id+" "+ms(t[id]))
	}
	return strings.Join(parts, ", ")
}
