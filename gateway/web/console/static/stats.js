// The statistics page's charts, drawn with the vendored Chart.js from the page's JSON data
// block (#stats-data). No inline script: the Content-Security-Policy allows this origin only.
(function () {
  "use strict";
  var block = document.getElementById("stats-data");
  if (!block || typeof Chart === "undefined") { return; }
  var data = JSON.parse(block.textContent);
  var colours = ["#1f5f99", "#2e8b57", "#d08a1e", "#8e44ad", "#7f8c8d"];
  Chart.defaults.animation = false;  // figures, not a show; and screenshots see final bars

  function top(rows, key, n) {
    return rows.slice().sort(function (a, b) { return (b[key] || 0) - (a[key] || 0); }).slice(0, n);
  }
  function label(row) { return row.name ? row.organ_id + " " + row.name : row.organ_id; }

  var daily = document.getElementById("chart-daily");
  if (daily) {
    new Chart(daily, {
      type: "bar",
      data: {
        labels: data.days,
        datasets: data.levels.map(function (level, i) {
          var perDay = data.per_day_level[level.key] || {};
          return {
            label: level.label,
            data: data.days.map(function (d) { return perDay[d] || 0; }),
            backgroundColor: colours[i % colours.length],
          };
        }),
      },
      options: {
        responsive: true, maintainAspectRatio: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  }

  var electronic = document.getElementById("chart-electronic");
  if (electronic) {
    var senders = top(data.electronic, "documents", 15);
    new Chart(electronic, {
      type: "bar",
      data: {
        labels: senders.map(label),
        datasets: [{
          label: data.labels.share + " (%)",
          data: senders.map(function (r) { return r.share_fully === null ? 0 : Math.round(1000 * r.share_fully) / 10; }),
          backgroundColor: colours[1],
        }],
      },
      options: { indexAxis: "y", responsive: true, maintainAspectRatio: false, scales: { x: { min: 0, max: 100 } } },
    });
  }

  var times = document.getElementById("chart-times");
  if (times) {
    var recipients = top(data.times, "copies", 15);
    new Chart(times, {
      type: "bar",
      data: {
        labels: recipients.map(label),
        datasets: [
          { label: data.labels.to_03, data: recipients.map(function (r) { return r.median_hours_to_03; }), backgroundColor: colours[0] },
          { label: data.labels.to_06, data: recipients.map(function (r) { return r.median_hours_to_06; }), backgroundColor: colours[2] },
        ],
      },
      options: { indexAxis: "y", responsive: true, maintainAspectRatio: false },
    });
  }
})();
