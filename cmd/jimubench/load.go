package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jimu-crm/jimu/engine/auth"
	"github.com/jimu-crm/jimu/engine/benchdata"
	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/identity"
	"github.com/jimu-crm/jimu/engine/problem"
	"github.com/jimu-crm/jimu/engine/records"
	"github.com/jimu-crm/jimu/engine/store"
	"github.com/jimu-crm/jimu/engine/store/mongo"
	"github.com/jimu-crm/jimu/engine/store/sqlite"
	"github.com/jimu-crm/jimu/metadata"
)

// loader is the principal the records are created by (and owned by).
var loader = &identity.Principal{UserID: "0190a000-0000-7000-8000-6a696d756265", Name: "jimubench", Roles: []string{"admin"}, Admin: true}

func openStore(ctx context.Context, u string) (store.Store, error) {
	switch {
	case strings.HasPrefix(u, "sqlite://"):
		return sqlite.Open(ctx, strings.TrimPrefix(u, "sqlite://"))
	case strings.HasPrefix(u, "mongodb://"), strings.HasPrefix(u, "mongodb+srv://"):
		return mongo.Open(ctx, u)
	}
	return nil, fmt.Errorf("-db %q: use sqlite:///path/jimu.db or mongodb://host/db", u)
}

func load(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("load", stderr)
	dbURL := fs.String("db", "", "store URL: sqlite:///path/jimu.db (or mongodb://host/db)")
	n := fs.Int("n", 1_000_000, "number of deal records the entity should hold when done")
	workers := fs.Int("workers", max(4, min(8, 2*runtime.NumCPU())), "concurrent writers (4-8)")
	every := fs.Int("progress", 100_000, "print progress every this many records")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbURL == "" {
		return errors.New("load needs -db (e.g. -db sqlite:///tmp/bench/jimu.db)")
	}
	if *n < 0 || *workers < 1 || *every < 1 {
		return errors.New("-n must be ≥ 0, -workers and -progress ≥ 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := openStore(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	cat := catalog.New(st, log)
	if err := cat.Load(ctx); err != nil {
		return err
	}
	if _, err := cat.Get("deal"); err != nil {
		if _, err := cat.Create(ctx, loader, benchdata.Deal()); err != nil {
			return fmt.Errorf("create the deal entity: %w", err)
		}
		fmt.Fprintln(stdout, "created entity deal")
	}
	// Bring an older database's entity up to the current indexes.
	if _, err := cat.Change(ctx, loader, "deal", 0, "meta.entity.update", func(e *metadata.Entity) error {
		e.Indexes = benchdata.Deal().Indexes
		return nil
	}); err != nil {
		return fmt.Errorf("deal indexes: %w", err)
	}
	repIDs, err := ensureReps(ctx, st, log)
	if err != nil {
		return err
	}
	svc := records.New(st, cat, records.System{}, log)

	// Resume: records 0…have-1 are taken to be there already.
	have, _, err := st.Count(ctx, "deal", nil, int64(*n))
	if err != nil {
		return err
	}
	start := int(have)
	if start >= *n {
		fmt.Fprintf(stdout, "deal already holds %d records (≥ %d): nothing to load\n", have, *n)
		return nil
	}
	fmt.Fprintf(stdout, "loading %d deals (%d → %d) with %d writers through records.Service.Create\n", *n-start, start, *n, *workers)

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next     atomic.Int64
		done     atomic.Int64
		mu       sync.Mutex
		t0       = time.Now()
		lastT    = t0
		lastDone int64
	)
	next.Store(int64(start))
	report := func(d int64) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		fmt.Fprintf(stdout, "%9d records  %7.1fs  %6.0f rec/s (last %d: %6.0f rec/s)\n",
			int64(start)+d, now.Sub(t0).Seconds(), float64(d)/now.Sub(t0).Seconds(),
			d-lastDone, float64(d-lastDone)/now.Sub(lastT).Seconds())
		lastT, lastDone = now, d
	}
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				if _, err := svc.Create(ctx, loader, "deal", dealOwned(i, repIDs)); err != nil {
					var pe *problem.Error
					if errors.As(err, &pe) {
						err = fmt.Errorf("%w: %v", err, pe.Errors)
					}
					cancel(fmt.Errorf("deal %d: %w", i, err))
					return
				}
				if d := done.Add(1); d%int64(*every) == 0 && int(d) < *n-start {
					report(d)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	d := done.Load()
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("stopped after %d records: %w", d, err)
	}
	report(d)
	fmt.Fprintf(stdout, "loaded %d deals in %s: %.0f creates/s (deal now holds %d)\n",
		d, elapsed.Round(time.Millisecond), float64(d)/elapsed.Seconds(), int64(start)+d)
	return nil
}

// ensureReps creates the Sales Reps that own the loaded deals (once) and
// returns their ids.
func ensureReps(ctx context.Context, st store.Store, log *slog.Logger) ([]string, error) {
	au := auth.New(st, auth.Options{Logger: log})
	var ids []string
	for k := range reps {
		u, err := au.CreateUser(ctx, loader, auth.NewUser{Email: RepEmail(k), Name: fmt.Sprintf("Rep %02d", k),
			Password: RepPassword, Roles: []string{"sales_rep"}})
		if errors.Is(err, auth.ErrEmailTaken) {
			doc, gerr := st.GetDocByKey(ctx, auth.KindUser, RepEmail(k))
			if gerr != nil {
				return nil, gerr
			}
			ids = append(ids, doc.ID)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", RepEmail(k), err)
		}
		ids = append(ids, u.ID)
	}
	return ids, nil
}
