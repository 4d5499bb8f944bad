package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/spillway-gw/spillway/plan"
)

// runPlan sizes PTU and TPM capacity for a workload file, prints the plan,
// and writes a gateway config for it with -o.
func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workload := fs.String("f", "", "workload file (YAML; see docs/plan.md and examples/workload.yaml)")
	out := fs.String("o", "", "write a spillway gateway config for the plan to this file")
	var o plan.GatewayOptions
	fs.StringVar(&o.Listen, "listen", "", "the written config's gateway.listen (default 127.0.0.1:10000)")
	fs.StringVar(&o.GRPCListen, "grpc-listen", "", "the written config's control.grpc_listen (default 127.0.0.1:18000)")
	fs.StringVar(&o.AdminListen, "admin-listen", "", "the written config's control.admin_listen (default 127.0.0.1:9464)")
	fs.StringVar(&o.NodeID, "node-id", "", "the written config's control.node_id, Envoy's node id (default spillway)")
	fs.StringVar(&o.SimURL, "sim", "", "demo: point every backend at the simulator at this URL (e.g. http://127.0.0.1:8081)")
	simOut := fs.String("sim-config", "", "with --sim: write the simulator config of the plan's deployments to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: spillway plan -f WORKLOAD [-o gateway.yaml] [--sim URL --sim-config sim.yaml]")
		fs.PrintDefaults()
	}
	if done, err := parseFlags(fs, args, stderr); done {
		return err
	}
	if *workload == "" || (*simOut != "" && o.SimURL == "") {
		fmt.Fprintln(stderr, "plan: -f is required, and --sim-config needs --sim")
		fs.Usage()
		return exitCode(2)
	}
	w, err := plan.Load(*workload)
	if err != nil {
		printConfigErrors(stderr, *workload, err)
		return exitCode(1)
	}
	p := plan.Make(w)
	if err := plan.WriteText(stdout, p); err != nil {
		return err
	}
	o.Source = *workload
	if *out != "" {
		var b bytes.Buffer
		if err := plan.WriteGateway(&b, p, w, o); err != nil {
			fmt.Fprintf(stderr, "plan: %v\n", err)
			return exitCode(1)
		}
		if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "gateway config written to %s (check it with: spillway validate -c %s)\n", *out, *out)
	}
	if *simOut != "" {
		var b bytes.Buffer
		if err := plan.WriteSim(&b, p, o); err != nil {
			return err
		}
		if err := os.WriteFile(*simOut, b.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "simulator config written to %s\n", *simOut)
	}
	return nil
}
