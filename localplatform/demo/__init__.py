"""`make demo`: the whole platform on one machine, configured by the same roles as on AWS.

    python -m localplatform.demo up       # (what `make demo` runs) build, start, send, load, summarise
    python -m localplatform.demo down     # (what `make demo-down` runs) remove everything `up` started
    python -m localplatform.demo status   # what is running
    python -m localplatform.demo etl      # one ETL run now, as the schedule would

Steps of `up`, each with a progress line:
  1. build the CloudFormation templates (python -m stacks build) and lint them (cfn-lint);
  2. start two Debian 12 systemd containers (clickstream-oltp, clickstream-dw) and configure them
     with playbooks/site.yml through inventories/local (agents off); select the warehouse's
     anomaly baseline for a history of DAYS days;
  3. start the S3 emulator (moto in server mode) holding the raw bucket, and the ingest HTTP
     adapter on 127.0.0.1 at /clickstream;
  4. run the traffic generator (localplatform.traffic) against the adapter, with an outage hour
     and a late batch held back;
  5. serve the demo shop with the built tracker and walk WALK_SESSIONS shoppers through it in
     headless Chromium (localplatform.shop_walk); read back what their browser sent;
  6. run the ETL as the schedule would: every ETL_INTERVAL seconds while traffic flows, then once
     more; then send the late batch and run it once more;
  7. print a summary (sent, accepted, loaded, rejected; the walk; sessions; conversion; the
     outage's anomaly and the late batch's restatements) and the dashboard URL.

Options (environment, or make variables): SHOPPERS, DAYS, SEED, WINDOW_END, OUTAGE, LATE_BATCH,
WALK_SESSIONS, KEEP_RUNNING=1, DWH_DSN, ETL_INTERVAL, S3_ENDPOINT (an emulator you run, e.g.
LocalStack), DEMO_DW_PORT, DEMO_SHINY_PORT, DEMO_S3_PORT, DEMO_INGEST_PORT, DEMO_SHOP_PORT,
DEMO_STATE_DIR. See docs/demo.md.

Everything the demo starts is recorded under the state dir (.demo/): process ids, logs, the
generated passwords (mode 0600, never printed), the traffic and walk records. Containers carry
the label io.clickstream.demo=1, and `down` removes only what carries it.

The modules, one job each:
  config      the options (from the environment), the fixed names, the tools' environment
  progress    the progress lines of each step
  state       the state directory and the generated passwords
  processes   the background processes the demo starts, and waiting for HTTP servers
  containers  the two podman containers (the local hosts)
  provision   configuring the hosts with playbooks/site.yml, or migrating DWH_DSN; the anomaly
              baseline the demo selects
  services    the AWS stand-ins: the S3 emulator with the raw bucket, the ingest adapter
  warehouse   how the ETL and the summary reach the warehouse; the summary's figures
  steps       steps 1-4 and 6 of `up`
  walk        step 5 of `up`: the demo shop and its walk in headless Chromium
  summary     step 7 of `up`
  cli         the commands up, down, status, etl
"""
