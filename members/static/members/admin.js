// Member admin: "Add another tag" adds an empty RFID tag input (without script, the
// one empty input the page always has adds a tag per save).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".tag-list").forEach(function (list) {
    var button = list.querySelector(".tag-add-more");
    var template = list.querySelector(".tag-add input");
    if (!button || !template) return;
    var added = 0;
    button.hidden = false;
    button.addEventListener("click", function () {
      added += 1;
      var item = document.createElement("li");
      var input = template.cloneNode(false);
      input.value = "";
      input.id = template.id + "_" + added;
      input.setAttribute("aria-label", "New RFID tag " + (added + 1));
      item.appendChild(input);
      list.querySelector("ul").appendChild(item);
      input.focus();
    });
  });
});
