package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/jimu-crm/jimu/engine/catalog"
	"github.com/jimu-crm/jimu/engine/doctor"
	"github.com/jimu-crm/jimu/engine/store"
)

// doctorCmd lists (and with --repair removes) the stored values this
// version cannot serve, by entity, record and field.
func doctorCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	cfg.flags(fs)
	repair := fs.Bool("repair", false, "rewrite each record found without the values it cannot serve (audited as record.repair)")
	vacuum := fs.Bool("vacuum", false, "SQLite: after a check with nothing to fix, rebuild the file without its free pages (needs free disk the size of the database, and nothing serving it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, _, err := cfg.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	err = runDoctor(ctx, st, log, *repair, stdout)
	if *vacuum && err == nil {
		err = vacuumStore(ctx, st, stdout)
	}
	return err
}

// vacuumStore gives a SQLite file's free pages back to the disk.
func vacuumStore(ctx context.Context, st store.Store, stdout io.Writer) error {
	v, ok := st.(interface {
		Vacuum(context.Context) (int64, int64, error)
	})
	if !ok {
		return errors.New("--vacuum is for a SQLite store; MongoDB compacts its own files")
	}
	before, after, err := v.Vacuum(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "vacuumed: %.1f MiB -> %.1f MiB\n", float64(before)/(1<<20), float64(after)/(1<<20))
	return nil
}

func runDoctor(ctx context.Context, st store.Store, log *slog.Logger, repair bool, stdout io.Writer) error {
	cat := catalog.New(st, log)
	if err := cat.Load(ctx); err != nil {
		return err
	}
	rep, err := doctor.Run(ctx, st, cat, doctor.Options{Repair: repair, Each: func(f doctor.Finding) {
		fmt.Fprintln(stdout, f)
	}})
	if err != nil {
		return err
	}
	if err := doctor.Remember(ctx, st, rep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d entities, %d records scanned: %d findings", rep.Entities, rep.Records, len(rep.Findings))
	if repair {
		fmt.Fprintf(stdout, ", %d records repaired", rep.Repaired)
	}
	fmt.Fprintln(stdout)
	left := 0
	for _, f := range rep.Findings {
		if f.ID == "" || !repair {
			left++
		}
	}
	switch {
	case left == 0:
		return nil
	case repair:
		return fmt.Errorf("%d field definitions need an admin: change their min, max or default", left)
	}
	return errors.New("run jimu doctor --repair to remove the values listed (each record's change is audited)")
}
