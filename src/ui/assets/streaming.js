// The Streaming page: reads the REST API and /metrics of the server that sent it, and draws
// Spark's Streaming tab with SVG. Refreshes every batch interval, or every second when batches
// are longer (never more often than every 200 ms).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const TIMELINE = { width: 570, height: 120, pad: 46 };
const HISTOGRAM = { width: 260, height: 120, pad: 24, bins: 10 };
const SHOWN_BATCHES = 100;
let appId = null;

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

function text(id, value) {
  document.getElementById(id).textContent = value;
}

function element(name, attributes, content) {
  const e = name === "svg" || ["circle", "polyline", "rect", "line", "text", "g"].includes(name)
    ? document.createElementNS(SVG, name)
    : document.createElement(name);
  for (const [k, v] of Object.entries(attributes || {})) e.setAttribute(k, v);
  if (content !== undefined) e.textContent = content;
  return e;
}

function row(attributes, cells) {
  const tr = element("tr", attributes);
  for (const [cls, value] of cells) tr.appendChild(element("td", { class: cls }, value));
  return tr;
}

function fill(tableId, rows) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren(...rows);
}

function clockTime(ms) {
  return new Date(ms).toISOString().substring(11, 23);
}

function duration(ms) {
  if (ms < 1000) return ms + " ms";
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + (s % 60) + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const f of [1, 2, 5, 10]) if (f * p >= v) return f * p;
  return 10 * p;
}

// A timeline of (batchId, value) points, one circle per batch.
function timeline(points, unit) {
  const { width, height, pad } = TIMELINE;
  const svg = element("svg", { class: "timeline-chart", width, height, viewBox: `0 0 ${width} ${height}` });
  const max = niceMax(Math.max(0, ...points.map(p => p[1])));
  const first = points.length ? points[0][0] : 0;
  const last = points.length ? points[points.length - 1][0] : 1;
  const span = Math.max(1, last - first);
  const x = t => pad + (width - pad - 8) * (t - first) / span;
  const y = v => height - 16 - (height - 34) * v / max; // the top 18 px hold the unit
  svg.appendChild(element("line", { class: "axis", x1: pad, y1: y(0), x2: width - 8, y2: y(0) }));
  svg.appendChild(element("line", { class: "axis", x1: pad, y1: y(0), x2: pad, y2: 14 }));
  svg.appendChild(element("text", { class: "tick", x: pad - 4, y: y(max) + 4, "text-anchor": "end" }, String(max)));
  svg.appendChild(element("text", { class: "tick", x: pad - 4, y: y(0) + 4, "text-anchor": "end" }, "0"));
  svg.appendChild(element("text", { class: "unit", x: pad + 4, y: 10 }, unit));
  if (points.length) {
    svg.appendChild(element("text", { class: "tick", x: pad, y: height - 2 }, clockTime(first)));
    svg.appendChild(element("text", { class: "tick", x: width - 8, y: height - 2, "text-anchor": "end" }, clockTime(last)));
    svg.appendChild(element("polyline", { class: "series", points: points.map(p => x(p[0]) + "," + y(p[1])).join(" ") }));
  }
  const dots = element("g", { class: "points" });
  for (const [t, v] of points) {
    dots.appendChild(element("circle", { class: "point", cx: x(t), cy: y(v), r: 2.2, "data-batch-id": t, "data-value": v }));
  }
  svg.appendChild(dots);
  return svg;
}

// A histogram of the values, HISTOGRAM.bins bars.
function histogram(values, unit) {
  const { width, height, pad, bins } = HISTOGRAM;
  const svg = element("svg", { class: "histogram-chart", width, height, viewBox: `0 0 ${width} ${height}` });
  const max = niceMax(Math.max(0, ...values));
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor(v / max * bins))] += 1;
  const top = Math.max(1, ...counts);
  const barWidth = (width - pad - 8) / bins;
  counts.forEach((n, i) => {
    const h = (height - 30) * n / top;
    svg.appendChild(element("rect", {
      class: "bar", x: pad + i * barWidth + 1, y: height - 16 - h, width: barWidth - 2, height: h,
      "data-count": n,
    }));
  });
  svg.appendChild(element("line", { class: "axis", x1: pad, y1: height - 16, x2: width - 8, y2: height - 16 }));
  svg.appendChild(element("text", { class: "tick", x: pad, y: height - 2 }, "0"));
  svg.appendChild(element("text", { class: "tick", x: width - 8, y: height - 2, "text-anchor": "end" }, max + " " + unit));
  svg.appendChild(element("text", { class: "tick", x: pad - 4, y: 12, "text-anchor": "end" }, String(top)));
  return svg;
}

function drawMetric(metric, points, unit, average) {
  const tr = document.querySelector(`#statistics tr[data-metric="${metric}"]`);
  tr.querySelector(".timeline").replaceChildren(timeline(points, unit));
  tr.querySelector(".histogram").replaceChildren(histogram(points.map(p => p[1]), unit));
  text("avg-" + metric, average === undefined ? "" : "avg " + average + " " + unit);
}

function outputOps(b) {
  return b.numCompletedOutputOps + "/" + b.numTotalOutputOps;
}

function value(v) {
  return v === undefined ? "-" : String(v);
}

// Kafka lag per partition, from /metrics.
function kafkaLag(metrics) {
  const lags = [];
  for (const line of metrics.split("\n")) {
    const m = /^dstreams_kafka_lag_records\{partition="((?:[^"\\]|\\.)*)"\} (\S+)$/.exec(line);
    if (m) lags.push([m[1], m[2]]);
  }
  return lags;
}

async function refresh() {
  let next = 1000;
  try {
    if (appId === null) {
      const apps = await getJson("/api/v1/applications");
      if (apps.length === 0) return;
      appId = apps[0].id;
      text("app-name", apps[0].name + " (" + appId + ")");
    }
    const base = "/api/v1/applications/" + encodeURIComponent(appId) + "/streaming";
    const [stats, batches, receivers, metrics] = await Promise.all([
      getJson(base + "/statistics"),
      getJson(base + "/batches"),
      getJson(base + "/receivers"),
      fetch("/metrics", { cache: "no-store" }).then(r => r.text()),
    ]);
    next = Math.max(200, Math.min(1000, stats.batchDuration));
    const completed = batches.filter(b => b.status === "COMPLETED");
    const active = batches.filter(b => b.status !== "COMPLETED");
    const chronological = completed.slice().reverse();
    const seconds = stats.batchDuration / 1000;

    text("summary", `Running batches of ${duration(stats.batchDuration)} for ${duration(Date.now() - Date.parse(stats.startTime.replace("GMT", "Z")))} since ${stats.startTime}: ` +
      `${stats.numTotalCompletedBatches} completed batches, ${stats.numProcessedRecords} records, ` +
      `${stats.numActiveReceivers}/${stats.numReceivers} receivers active.`);
    text("retained", String(stats.numRetainedCompletedBatches));
    drawMetric("input-rate", chronological.map(b => [b.batchId, Math.round(b.inputSize / seconds * 100) / 100]), "records/s",
      stats.avgInputRate === undefined ? undefined : stats.avgInputRate.toFixed(2));
    drawMetric("scheduling-delay", chronological.filter(b => b.schedulingDelay !== undefined).map(b => [b.batchId, b.schedulingDelay]), "ms", stats.avgSchedulingDelay);
    drawMetric("processing-time", chronological.filter(b => b.processingTime !== undefined).map(b => [b.batchId, b.processingTime]), "ms", stats.avgProcessingTime);
    drawMetric("total-delay", chronological.filter(b => b.totalDelay !== undefined).map(b => [b.batchId, b.totalDelay]), "ms", stats.avgTotalDelay);

    text("active-count", String(active.length));
    fill("active-batches", active.map(b => row({ "data-batch-id": b.batchId }, [
      ["batch-time", clockTime(b.batchId)], ["input-size", b.inputSize],
      ["scheduling-delay", value(b.schedulingDelay)], ["processing-time", value(b.processingTime)],
      ["output-ops", outputOps(b)], ["status", b.status],
    ])));
    const shown = completed.slice(0, SHOWN_BATCHES);
    text("completed-shown", String(shown.length));
    text("completed-count", String(stats.numTotalCompletedBatches));
    fill("completed-batches", shown.map(b => row({ "data-batch-id": b.batchId, class: b.firstFailureReason ? "failed" : "" }, [
      ["batch-time", clockTime(b.batchId)], ["input-size", b.inputSize],
      ["scheduling-delay", value(b.schedulingDelay)], ["processing-time", value(b.processingTime)],
      ["total-delay", value(b.totalDelay)], ["output-ops", outputOps(b)],
      ["failure", b.firstFailureReason || ""],
    ])));

    const latest = active.length ? active[active.length - 1] : completed[0];
    if (latest) {
      const ops = await getJson(base + "/batches/" + latest.batchId + "/operations");
      text("operations-batch", clockTime(latest.batchId) + " (" + latest.status.toLowerCase() + ")");
      fill("operations", ops.map(o => row({ "data-output-op-id": o.outputOpId }, [
        ["op-id", o.outputOpId], ["op-name", o.name], ["op-description", o.description],
        ["op-duration", value(o.duration)],
        ["op-status", o.failureReason ? "failed: " + o.failureReason : (o.endTime ? "succeeded" : "running")],
      ])));
    }
    fill("receivers", receivers.map(r => row({ "data-stream-id": r.streamId }, [
      ["stream-id", r.streamId], ["stream-name", r.streamName],
      ["active", r.isActive === undefined ? "-" : (r.isActive ? "yes" : "no")],
      ["avg-event-rate", r.avgEventRate === undefined ? "-" : r.avgEventRate.toFixed(1)],
      ["last-error", r.lastErrorMessage || ""],
    ])));
    const lags = kafkaLag(metrics);
    fill("kafka-lag", lags.length
      ? lags.map(([p, n]) => row({}, [["partition", p], ["lag", n]]))
      : [row({}, [["partition", "no Kafka input"], ["lag", "-"]])]);
    text("updated", "Updated " + new Date().toISOString());
  } catch (e) {
    text("updated", "Update failed: " + e.message);
  } finally {
    setTimeout(refresh, next);
  }
}

refresh();
