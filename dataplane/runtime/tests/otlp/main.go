// otlp-receiver: the OpenTelemetry Collector's own OTLP receiver (otlpreceiver), listening for
// OTLP over HTTP on -endpoint, writing every trace export it accepts as one line of OTLP JSON
// (ptrace.JSONMarshaler) to -out. The runtime's tracing test points OTEL_EXPORTER_OTLP_ENDPOINT
// here and reads the spans back.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:4318", "host:port for OTLP/HTTP")
	out := flag.String("out", "spans.jsonl", "file the received traces are appended to, one export per line")
	flag.Parse()
	if err := run(*endpoint, *out); err != nil {
		fmt.Fprintln(os.Stderr, "otlp-receiver:", err)
		os.Exit(1)
	}
}

func run(endpoint, out string) error {
	file, err := os.OpenFile(out, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer file.Close()
	var mu sync.Mutex
	marshaler := &ptrace.JSONMarshaler{}
	traces, err := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		line, err := marshaler.MarshalTraces(td)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if _, err := file.Write(append(line, '\n')); err != nil {
			return err
		}
		return file.Sync()
	})
	if err != nil {
		return err
	}
	factory := otlpreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig()
	conf := confmap.NewFromStringMap(map[string]any{
		"protocols": map[string]any{"http": map[string]any{"endpoint": endpoint}},
	})
	if err := conf.Unmarshal(cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	ctx := context.Background()
	receiver, err := factory.CreateTraces(ctx, receivertest.NewNopSettings(factory.Type()), cfg, traces)
	if err != nil {
		return err
	}
	if err := receiver.Start(ctx, componenttest.NewNopHost()); err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", endpoint)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
	return receiver.Shutdown(ctx)
}
