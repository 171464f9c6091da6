# Marks boards/ as the package meteolink.boards, whose data are the board
# files (*.json): one file a board, described in docs/boards.md.
