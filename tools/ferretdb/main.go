// Command ferretdb-launcher runs an embedded FerretDB (MongoDB wire protocol) on its SQLite
// backend (the flag default) or its PostgreSQL backend (`--handler postgresql
// --postgresql-url ...`, what `petrosa-infra up` starts by default; docs/ferretdb.md says why).
// It exists because a `go install` of FerretDB's own command panics at start-up: its version
// file is generated at build time and is not part of the module.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	addr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data-dir", ".run/ferretdb", "directory for the SQLite databases")
	handler := flag.String("handler", "sqlite", "backend handler: sqlite or postgresql")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL URL for the postgresql handler")
	// WAL with synchronous=NORMAL: commits do not wait for fsync (a crash of the machine may
	// lose the last transactions, never corrupt the file). Right for dev and tests; without
	// it every upsert waits for the disk and FerretDB manages about a hundred a second.
	sqliteParams := flag.String("sqlite-params", "_pragma=synchronous(NORMAL)", "query parameters of the SQLite URL")
	// Go's garbage collector took about a quarter of FerretDB's CPU under `make dev`: every
	// read decodes whole collections into short-lived documents, while the live heap stays
	// small. Collecting when the heap reaches 11x the live heap (GOGC=1000) instead of 2x
	// cut a sorted read of 3,300 documents from about 250 ms to 150 ms here; the memory
	// limit makes the collector run earlier whenever the heap would pass it.
	gcPercent := flag.Int("gc-percent", 1000, "Go GC target: heap growth in percent of the live heap before a collection (GOGC)")
	memoryLimit := flag.Int64("memory-limit-mib", 1024, "soft limit of the Go heap in MiB (GOMEMLIMIT); the collector runs as often as needed to stay under it")
	flag.Parse()
	if *gcPercent < -1 {
		log.Fatalf("--gc-percent %d: want -1 (no collection) or more", *gcPercent)
	}
	if *memoryLimit < 1 || *memoryLimit > 1<<30 {
		log.Fatalf("--memory-limit-mib %d: want 1 to %d", *memoryLimit, int64(1)<<30)
	}
	debug.SetGCPercent(*gcPercent)
	debug.SetMemoryLimit(*memoryLimit << 20)

	cfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *addr},
		Handler:  *handler,
		Logger:   slog.New(withoutDuplicateKeyQueries{slog.Default().Handler()}),
	}
	switch *handler {
	case "postgresql":
		if *postgresURL == "" {
			log.Fatalf("--handler postgresql needs --postgresql-url")
		}
		cfg.PostgreSQLURL = *postgresURL
	case "sqlite":
		dir, err := filepath.Abs(*dataDir)
		if err != nil {
			log.Fatalf("data dir: %v", err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			log.Fatalf("data dir: %v", err)
		}
		cfg.SQLiteURL = "file:" + dir + "/"
		if *sqliteParams != "" {
			cfg.SQLiteURL += "?" + *sqliteParams
		}
	default:
		log.Fatalf("--handler %q: want sqlite or postgresql", *handler)
	}

	f, err := ferretdb.New(cfg)
	if err != nil {
		log.Fatalf("ferretdb: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log.Printf("ferretdb listening on %s (handler %s)", *addr, *handler)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatalf("ferretdb: %v", err)
	}
}

// withoutDuplicateKeyQueries drops FerretDB's log record of a PostgreSQL query that failed on a
// unique index (SQLSTATE 23505). Every insert of a document that already exists ends that way
// (FerretDB answers E11000 to the client, which is how idempotent writers learn "already
// stored"), and the record carries the query's arguments: under `make dev` the updates of open
// candles alone logged about 1.6 MB a minute. Every other record passes through.
type withoutDuplicateKeyQueries struct {
	slog.Handler
}

// Handle implements slog.Handler.
func (h withoutDuplicateKeyQueries) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "Query" && r.Level >= slog.LevelError && failedOnUniqueIndex(r) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h withoutDuplicateKeyQueries) WithAttrs(attrs []slog.Attr) slog.Handler {
	return withoutDuplicateKeyQueries{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h withoutDuplicateKeyQueries) WithGroup(name string) slog.Handler {
	return withoutDuplicateKeyQueries{h.Handler.WithGroup(name)}
}

func failedOnUniqueIndex(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" && strings.Contains(a.Value.String(), "(SQLSTATE 23505)") {
			found = true
			return false
		}
		return true
	})
	return found
}
