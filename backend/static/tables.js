// Tables on a phone: style.css shows each row as a stack of "column name / value" lines below
// 40rem. This copies each column's header text to its cells' data-label (templates may set their
// own), and gives the cells their table roles back, since display: block drops them in browsers.
// A static file: the Content-Security-Policy forbids inline scripts.
(function () {
  "use strict";
  function headers(table) {
    var row = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    if (!row) { return null; }
    var names = [];
    Array.prototype.forEach.call(row.cells, function (cell) {
      for (var i = 0; i < (cell.colSpan || 1); i++) { names.push(cell.textContent.trim()); }
    });
    return names;
  }
  function prepare(table) {
    var names = headers(table);
    if (!names) { return; }
    table.setAttribute("role", "table");
    Array.prototype.forEach.call(table.querySelectorAll("thead, tbody, tfoot"), function (group) {
      group.setAttribute("role", "rowgroup");
    });
    Array.prototype.forEach.call(table.rows, function (row) {
      row.setAttribute("role", "row");
      var column = 0;
      Array.prototype.forEach.call(row.cells, function (cell) {
        var header = cell.tagName === "TH";
        if (header && cell.getAttribute("scope") === "row") {
          cell.setAttribute("role", "rowheader");
        } else {
          cell.setAttribute("role", header ? "columnheader" : "cell");
        }
        if (!header && !cell.hasAttribute("data-label") && names[column] && (cell.colSpan || 1) === 1) {
          cell.setAttribute("data-label", names[column]);
        }
        column += cell.colSpan || 1;
      });
    });
    table.classList.add("stackable");
  }
  function run() { Array.prototype.forEach.call(document.querySelectorAll("main table"), prepare); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", run); } else { run(); }
}());
