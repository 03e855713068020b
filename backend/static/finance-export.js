// Polls the status of fleet exports on the finance reports page (same origin; no inline script
// because the Content-Security-Policy forbids it). Stops once every job is done or failed.
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.export-job"));
  function label(cell, data) {
    var text = cell.getAttribute("data-label-" + data.status) || data.status;
    text = text.replace("{done}", data.done).replace("{total}", data.total).replace("{reports}", data.reports);
    if (data.status === "failed" && data.message_text) { text += ": " + data.message_text; }
    return text;
  }
  function poll(row) {
    var cell = row.querySelector(".job-status");
    fetch(row.getAttribute("data-status-url"), {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        cell.textContent = label(cell, data);
        row.setAttribute("data-state", data.status);
        if (data.status === "done" && data.download && !row.querySelector(".job-download a")) {
          var link = document.getElementById("job-download-link").content.firstElementChild.cloneNode(true);
          link.href = data.download;
          row.querySelector(".job-download").appendChild(link);
        }
        if (data.status === "queued" || data.status === "running") {
          window.setTimeout(function () { poll(row); }, 1000);
        }
      })
      .catch(function () { window.setTimeout(function () { poll(row); }, 3000); });
  }
  rows.forEach(function (row) { poll(row); });
})();
