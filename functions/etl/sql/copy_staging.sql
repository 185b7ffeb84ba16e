COPY etl_staging ({columns}) FROM STDIN
