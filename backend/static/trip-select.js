// "Select all" on the driver's trip list (no inline script: the Content-Security-Policy forbids
// it). Without JavaScript the box stays hidden and "Confirm all" still works.
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  if (!all) { return; }
  var boxes = Array.prototype.slice.call(document.querySelectorAll('input[type="checkbox"][name="trip"]:not([disabled])'));
  if (!boxes.length) { return; }
  document.getElementById("select-all-wrap").hidden = false;
  function sync() {
    var ticked = boxes.filter(function (box) { return box.checked; }).length;
    all.checked = ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  }
  all.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = all.checked; });
    sync();
  });
  boxes.forEach(function (box) { box.addEventListener("change", sync); });
  sync();
})();
