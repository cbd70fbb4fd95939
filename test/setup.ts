// Pinned for every test: stable output, no colours, UTC dates.
process.env.TZ = "Etc/UTC";
process.env.NO_COLOR = "1";
